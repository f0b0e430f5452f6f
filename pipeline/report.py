"""`newsbeam report`: one self-contained HTML page of what an output holds.

The page reads the committed tables through `schemas.duckdb_views.open_output` (what
`newsbeam query` reads), one query per section. Charts are matplotlib SVG inlined in
the page: no JavaScript and nothing to fetch, so the file opens offline, with scripts
off, in any browser or mail client. The page is a Jinja2 template with autoescape on:
titles, quotes, names and URLs come from the input and must never become markup.
"""

import io
import os
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from transforms.nlp.lexicon import NAME_LABELS

UNKNOWN = "(unknown)"
OTHER = "other"


@dataclass(frozen=True)
class Period:
    """Days to report, inclusive, matched against each table's `date` partition
    (articles, entities, quotes: the article's date; rejects: the day rejected;
    feed_state: the day fetched). None: unbounded."""

    since: date | None = None
    until: date | None = None

    def params(self, **more) -> dict:
        """Query parameters: the bounds for IN_PERIOD, and `more`."""
        return {"since": self.since or date.min, "until": self.until or date.max, **more}

    def describe(self) -> str:
        if not self.since and not self.until:
            return "all days"
        return f"{self.since or 'the first day'} to {self.until or 'the last day'}"


@dataclass(frozen=True)
class ReportConfig:
    output: str
    period: Period = field(default_factory=Period)
    top_entities: int = 10
    top_speakers: int = 15
    newest_quotes: int = 25
    chart_series: int = 8  # most sources or entities drawn apiece; the rest are summed as "other"


# --- queries: a DuckDB connection from open_output in, plain dicts out ------------------

IN_PERIOD = "date BETWEEN $since AND $until"


def fetch_dicts(con, sql: str, params: dict) -> list[dict]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def has_entity_keys(con) -> bool:
    """Whether the output's views join entities across articles (outputs written before
    entity keys have no `entities_resolved`: schemas/duckdb_views.py)."""
    return bool(con.execute("SELECT 1 FROM duckdb_views() WHERE view_name = 'entities_resolved'").fetchall())


def entity_source(con) -> tuple[str, str]:
    """(the relation, what makes two of its rows one entity): the resolved entity key,
    so "Trump" and "Donald Trump" count as one, where the output has keys."""
    if has_entity_keys(con):
        return "entities_resolved", "resolved_key"
    return "entities", "canonical || '\x1f' || label"


def totals(con, period: Period) -> dict:
    """Headline figures of the period."""
    (row,) = fetch_dicts(
        con,
        f"""
        SELECT (SELECT count(*) FROM articles WHERE {IN_PERIOD}) AS ingested,
               (SELECT count(*) FROM articles WHERE {IN_PERIOD} AND duplicate_of IS NOT NULL) AS duplicates,
               (SELECT count(*) FROM rejects WHERE {IN_PERIOD}) AS rejects,
               (SELECT count(*) FROM entities WHERE {IN_PERIOD}) AS entity_mentions,
               (SELECT count(*) FROM quotes WHERE {IN_PERIOD}) AS quotes,
               (SELECT count(DISTINCT url) FROM feed_state WHERE {IN_PERIOD}) AS feeds,
               (SELECT min(date) FROM articles WHERE {IN_PERIOD}) AS first_day,
               (SELECT max(date) FROM articles WHERE {IN_PERIOD}) AS last_day""",
        period.params(),
    )
    return {**row, "unique": row["ingested"] - row["duplicates"]}


def articles_per_day(con, period: Period) -> list[dict]:
    """Unique articles (duplicates left out: they have their own section) per day and source."""
    return fetch_dicts(
        con,
        f"""
        SELECT date, coalesce(source, '{UNKNOWN}') AS source, count(*) AS articles
        FROM articles WHERE {IN_PERIOD} AND duplicate_of IS NULL
        GROUP BY ALL ORDER BY date, articles DESC, source""",
        period.params(),
    )


def top_entities(con, period: Period, limit: int) -> list[dict]:
    """The names (people, organisations, places, ...: not dates or numbers) in most articles;
    a long article repeating a name counts once."""
    relation, key = entity_source(con)
    return fetch_dicts(
        con,
        f"""
        SELECT {key} AS entity, arg_max(canonical, length(canonical)) AS name, mode(label) AS label,
               count(DISTINCT article_id) AS articles, count(*) AS mentions
        FROM {relation} WHERE {IN_PERIOD} AND list_contains($labels, label)
        GROUP BY entity ORDER BY articles DESC, mentions DESC, name LIMIT $limit""",
        period.params(labels=sorted(NAME_LABELS), limit=limit),
    )


def entities_per_day(con, period: Period, entities: list[str]) -> list[dict]:
    """Articles per day naming each of `entities` (keys from top_entities)."""
    if not entities:
        return []
    relation, key = entity_source(con)
    return fetch_dicts(
        con,
        f"""
        SELECT {key} AS entity, date, count(DISTINCT article_id) AS articles
        FROM {relation} WHERE {IN_PERIOD} AND list_contains($entities, {key})
        GROUP BY ALL ORDER BY date, entity""",
        period.params(entities=entities),
    )


def top_speakers(con, period: Period, limit: int) -> list[dict]:
    """Speakers by quotes; one speaker under its names ("Putin", "Vladimir Putin") where
    the output has keys, and unnamed speakers ("the report") by their text."""
    relation, key = (
        ("quotes_resolved", "coalesce(resolved_speaker_key, speaker)")
        if has_entity_keys(con)
        else ("quotes", "speaker")
    )
    return fetch_dicts(
        con,
        f"""
        SELECT arg_max(speaker, length(speaker)) AS speaker, mode(speaker_label) AS label, count(*) AS quotes,
               count(DISTINCT article_id) AS articles
        FROM {relation} WHERE {IN_PERIOD} AND speaker IS NOT NULL
        GROUP BY {key} ORDER BY quotes DESC, speaker LIMIT $limit""",
        period.params(limit=limit),
    )


def duplicates_by_reason(con, period: Period) -> list[dict]:
    return fetch_dicts(
        con,
        f"""
        SELECT coalesce(duplicate_reason, '{UNKNOWN}') AS reason, count(*) AS articles
        FROM articles WHERE {IN_PERIOD} AND duplicate_of IS NOT NULL
        GROUP BY ALL ORDER BY articles DESC, reason""",
        period.params(),
    )


def rejects_by_reason(con, period: Period) -> list[dict]:
    return fetch_dicts(
        con,
        f"""
        SELECT stage, error, count(*) AS rejects, arg_max(input, rejected_at) AS latest_input
        FROM rejects WHERE {IN_PERIOD}
        GROUP BY stage, error ORDER BY rejects DESC, stage, error""",
        period.params(),
    )


def feed_health(con, period: Period) -> list[dict]:
    """Per feed URL: fetches by outcome, the share answered 304, the last success and error."""
    return fetch_dicts(
        con,
        f"""
        SELECT url, count(*) AS fetches,
               count(*) FILTER (WHERE outcome = 'new') AS new,
               count(*) FILTER (WHERE outcome = 'not_modified') AS not_modified,
               count(*) FILTER (WHERE outcome = 'failed') AS failed,
               count(*) FILTER (WHERE last_status = 304) / count(*) AS rate_304,
               max(last_fetched_at) FILTER (WHERE outcome <> 'failed') AS last_success,
               max(last_fetched_at) AS last_fetched_at,
               arg_max(outcome, last_fetched_at) AS last_outcome,
               arg_max(error, last_fetched_at) FILTER (WHERE outcome = 'failed') AS last_error
        FROM feed_state WHERE {IN_PERIOD}
        GROUP BY url ORDER BY failed DESC, url""",
        period.params(),
    )


def newest_quotes(con, period: Period, limit: int) -> list[dict]:
    """The newest quotes (by their article's publication time) with speaker and article."""
    return fetch_dicts(
        con,
        f"""
        SELECT q.text, q.speaker, q.speaker_mention, q.cue, a.title, coalesce(a.url, a.canonical_url) AS url,
               a.published_at
        FROM quotes q JOIN articles a ON a.article_id = q.article_id AND a.duplicate_of IS NULL
        WHERE q.{IN_PERIOD}
        QUALIFY row_number() OVER (PARTITION BY q.quote_id ORDER BY a.ingested_at DESC) = 1
        ORDER BY a.published_at DESC, q.article_id, q.start LIMIT $limit""",
        period.params(limit=limit),
    )


# --- shaping for charts ---------------------------------------------------------------


def pivot(rows: list[dict], across: str, series: str, value: str, keep: int) -> tuple[list, dict]:
    """rows -> (categories, {series name: values per category}); the `keep` largest series
    by total are kept and the rest summed into "other"."""
    categories = sorted({row[across] for row in rows})
    totals_by_series: dict = {}
    for row in rows:
        totals_by_series[row[series]] = totals_by_series.get(row[series], 0) + row[value]
    ranked = sorted(totals_by_series, key=lambda name: (-totals_by_series[name], str(name)))
    kept = set(ranked[:keep]) if len(ranked) > keep + 1 else set(ranked)  # "other" of one series is no help
    index = {category: i for i, category in enumerate(categories)}
    table = {name: [0] * len(categories) for name in ranked if name in kept}
    if len(kept) < len(ranked):
        table[OTHER] = [0] * len(categories)
    for row in rows:
        name = row[series] if row[series] in kept else OTHER
        table[name][index[row[across]]] += row[value]
    return categories, table


def is_web_link(url: str | None) -> bool:
    """Only http(s) URLs become links: a `javascript:` URL from a feed stays text."""
    return bool(url and url.lower().startswith(("http://", "https://")))


def shorten(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# --- charts: matplotlib figures to inline SVG ---------------------------------------------


def svg_of(figure, name: str) -> str:
    """The figure as an <svg> element to inline in HTML."""
    import matplotlib

    buffer = io.StringIO()
    # Text stays text (smaller, selectable, set in the page's font); the salt keeps the
    # ids of different charts in one page apart and the same between reports.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def new_figure(width: float, height: float):
    from matplotlib.figure import Figure  # no pyplot: no global figure registry, no GUI backend

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.subplots()


def day_labels(days: list) -> list[str]:
    return [day.isoformat() if hasattr(day, "isoformat") else str(day) for day in days]


def stacked_bars_svg(name: str, categories: list, table: dict, ylabel: str) -> str:
    """Vertical bars per category (days), stacked by series."""
    figure, axes = new_figure(max(6.0, 0.5 * len(categories) + 3), 3.6)
    positions = range(len(categories))
    bottom = [0] * len(categories)
    for series, values in table.items():
        axes.bar(positions, values, bottom=bottom, label=shorten(str(series)))
        bottom = [b + v for b, v in zip(bottom, values)]
    axes.set_xticks(list(positions), day_labels(categories), rotation=45, ha="right")
    axes.set_ylabel(ylabel)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
    return svg_of(figure, name)


def lines_svg(name: str, categories: list, table: dict, ylabel: str) -> str:
    """One line per series over categories (days); markers so a single day still shows."""
    figure, axes = new_figure(max(6.0, 0.5 * len(categories) + 3), 3.6)
    positions = list(range(len(categories)))
    for series, values in table.items():
        axes.plot(positions, values, marker="o", label=shorten(str(series)))
    axes.set_xticks(positions, day_labels(categories), rotation=45, ha="right")
    axes.set_ylabel(ylabel)
    axes.set_ylim(bottom=0)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
    return svg_of(figure, name)


def horizontal_bars_svg(name: str, labels: list[str], table: dict, xlabel: str) -> str:
    """A bar per label (top to bottom), stacked by series when there are several."""
    figure, axes = new_figure(7.0, 0.35 * len(labels) + 1.2)
    positions = range(len(labels))
    left = [0] * len(labels)
    for series, values in table.items():
        axes.barh(positions, values, left=left, label=series)
        left = [a + v for a, v in zip(left, values)]
    axes.set_yticks(list(positions), [shorten(label, 60) for label in labels])
    axes.invert_yaxis()  # the largest first, at the top
    axes.set_xlabel(xlabel)
    axes.xaxis.get_major_locator().set_params(integer=True)
    if len(table) > 1:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
    return svg_of(figure, name)


# --- the page ---------------------------------------------------------------------------


def build_report(con, config: ReportConfig, now: datetime) -> dict:
    """Every section's rows and chart: what the template shows."""
    period = config.period
    days = articles_per_day(con, period)
    entities = top_entities(con, period, config.top_entities)
    speakers = top_speakers(con, period, config.top_speakers)
    duplicates = duplicates_by_reason(con, period)
    rejects = rejects_by_reason(con, period)
    feeds = feed_health(con, period)
    sections: dict[str, dict[str, Any]] = {
        "articles": {"rows": days},
        "entities": {"rows": entities},
        "speakers": {"rows": speakers},
        "duplicates": {"rows": duplicates},
        "rejects": {"rows": rejects},
        "feeds": {"rows": feeds},
        "quotes": {"rows": newest_quotes(con, period, config.newest_quotes)},
    }
    if days:
        by_source = pivot(days, "date", "source", "articles", config.chart_series)
        sections["articles"]["chart"] = stacked_bars_svg("articles", *by_source, "unique articles")
        sections["articles"]["table"] = by_source
    if entities:
        names = {row["entity"]: f"{row['name']} ({row['label']})" for row in entities}
        per_day = [{**row, "entity": names[row["entity"]]} for row in entities_per_day(con, period, list(names))]
        categories, table = pivot(per_day, "date", "entity", "articles", config.chart_series)
        sections["entities"]["chart"] = lines_svg("entities", categories, table, "articles naming it")
    if speakers:
        sections["speakers"]["chart"] = horizontal_bars_svg(
            "speakers", [row["speaker"] for row in speakers], {"quotes": [row["quotes"] for row in speakers]}, "quotes"
        )
    if duplicates:
        sections["duplicates"]["chart"] = horizontal_bars_svg(
            "duplicates",
            [row["reason"] for row in duplicates],
            {"articles": [row["articles"] for row in duplicates]},
            "duplicate articles",
        )
    if rejects:
        sections["rejects"]["chart"] = horizontal_bars_svg(
            "rejects",
            [f"{row['stage']}/{row['error']}" for row in rejects],
            {"rejects": [row["rejects"] for row in rejects]},
            "rejects",
        )
    if feeds:
        sections["feeds"]["chart"] = horizontal_bars_svg(
            "feeds",
            [row["url"] for row in feeds],
            {outcome: [row[outcome] for row in feeds] for outcome in ("new", "not_modified", "failed")},
            "fetches",
        )
    return {
        "output": config.output,
        "period": period.describe(),
        "generated_at": now,
        "totals": totals(con, period),
        "sections": sections,
    }


def render_html(report: dict) -> str:
    from jinja2 import Environment, PackageLoader

    environment = Environment(loader=PackageLoader("pipeline", "templates"), autoescape=True)
    environment.globals["is_web_link"] = is_web_link
    return environment.get_template("report.html").render(**report)


# --- the command --------------------------------------------------------------------------


def parse_day(option: str, text: str | None) -> date | None:
    from pipeline.cli import UsageError

    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} takes a date YYYY-MM-DD: {text}") from None


def write_atomically(path: str, text: str) -> None:
    """A reader (or a browser reloading) never sees half a page."""
    temporary = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def report_command(argv: list[str]) -> int:
    from pipeline.cli import CommandParser, UsageError, existing_output

    parser = CommandParser(
        "report",
        description=(
            "One self-contained HTML page (inline SVG charts, no scripts, nothing fetched) of what an "
            "output holds: articles per day, top entities, speakers, duplicates, rejects, feed health, quotes."
        ),
    )
    parser.add_argument("--output", required=True, help="A newsbeam output directory.")
    parser.add_argument("--since", help="First day to report, YYYY-MM-DD (each table's date partition).")
    parser.add_argument("--until", help="Last day to report, YYYY-MM-DD (inclusive).")
    parser.add_argument("--to", required=True, help="The HTML file to write.")
    args = parser.parse_args(argv)
    period = Period(parse_day("--since", args.since), parse_day("--until", args.until))
    if period.since and period.until and period.since > period.until:
        raise UsageError(f"--since {period.since} is after --until {period.until}")
    try:
        import jinja2  # noqa: F401
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise UsageError(f"needs {error.name}: pip install 'newsbeam[report]'") from None
    existing_output(args.output)
    target_folder = os.path.dirname(os.path.abspath(args.to))
    if not os.path.isdir(target_folder):
        raise UsageError(f"folder of --to not found: {target_folder}")
    from schemas.duckdb_views import open_output

    def name_bad_file(path, reason):
        print(
            f"newsbeam report: left out corrupt file {path} ({reason}); "
            f"`newsbeam check --output {args.output} --repair` quarantines it",
            file=sys.stderr,
        )

    con = open_output(args.output, on_bad_file=name_bad_file)
    report = build_report(con, ReportConfig(args.output, period), datetime.now(timezone.utc))
    write_atomically(args.to, render_html(report))
    t = report["totals"]
    print(
        f"report {args.to}: {t['ingested']} articles ({t['duplicates']} duplicates), {t['rejects']} rejects, "
        f"{t['quotes']} quotes, {t['feeds']} feeds; {period.describe()}"
    )
    return 0
