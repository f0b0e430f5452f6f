"""`newsbeam report`: the page of a real output, opened offline in a real headless Chromium.

The output comes from real `newsbeam run`s (NLP on): the seeds, a copy of a seed (a
duplicate), an empty file (a reject), an article whose title, source, URL and quote are
hostile markup, and two feeds served from 127.0.0.1 (one polled twice: a 304; one that
answers 404). Chromium is Debian's (`make test` installs it), driven by playwright.
"""

import os
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import SEED_ARTICLE, SEEDS
from feed_server import FeedServer, install_standard_routes
from PIL import Image

from pipeline.cli import main
from pipeline.report import (
    Period,
    articles_per_day,
    duplicates_by_reason,
    feed_health,
    is_web_link,
    newest_quotes,
    pivot,
    rejects_by_reason,
    top_entities,
    top_speakers,
)
from schemas.duckdb_views import open_output

CHART_SECTIONS = ("articles", "entities", "speakers", "duplicates", "rejects", "feeds")
HOSTILE_TITLE = 'Harbour <img src="http://tracker.invalid/pixel.png"> vote & <script>alert(1)</script>'
HOSTILE_SOURCE = "Daily $5 <News>"
HOSTILE_QUOTE_WORDS = "<b>not</b> pay $5"
HOSTILE_ARTICLE = {
    "title": HOSTILE_TITLE,
    "source": HOSTILE_SOURCE,
    "url": "javascript:alert(1)",
    "published": "2026-03-14T09:00:00Z",
    "text": (
        "Northfield's harbour board met on Saturday to vote on the new mooring fees. "
        f'"We will {HOSTILE_QUOTE_WORDS} for <script>this</script> mooring," said Maria Lopez, '
        "the chair of the Northfield Boat Owners Association. The board will meet again next month "
        "to hear from the fishermen, who say the fees would close the old fish market."
    ),
}


def chromium_path() -> str:
    """Debian's chromium; missing, the test fails unless this machine cannot install it."""
    path = shutil.which("chromium")
    if path:
        return path
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(
            "chromium is not installed and this user cannot `apt-get install chromium` "
            "(`make test` installs it as root)"
        )
    pytest.fail("chromium is not installed: `make test` (or `make chromium`) installs it")


def report(capsys, *args) -> tuple[int, str, str]:
    code = main(["report", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@dataclass
class Output:
    path: Path
    feed_url: str
    failing_feed_url: str
    rows: dict = field(default_factory=dict)  # table -> its rows as dicts, read plainly


@pytest.fixture(scope="module")
def output(tmp_path_factory) -> Output:
    import json

    inputs = tmp_path_factory.mktemp("report-inputs")
    shutil.copy(SEED_ARTICLE, inputs / "copy-of-seed.txt")
    (inputs / "empty.txt").write_text("")
    (inputs / "hostile.json").write_text(json.dumps(HOSTILE_ARTICLE))
    path = tmp_path_factory.mktemp("report-run") / "out"
    with FeedServer() as server:
        install_standard_routes(server)
        feed, failing = server.url("/feed.xml"), server.url("/gone.xml")  # no route: 404, not retried
        common = ["--feed", feed, "--feed", failing, "--allow-private-hosts", "--output", str(path)]
        assert main(["run", "--input", str(SEEDS), "--input", str(inputs), *common]) == 0
        assert main(["run", *common]) == 0  # the feed answers 304 now; the other fails again
    con = open_output(str(path))
    rows = {}
    for table in ("articles", "entities", "quotes", "rejects", "feed_state"):
        cursor = con.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cursor.description]
        rows[table] = [dict(zip(names, row)) for row in cursor.fetchall()]
    return Output(path, feed, failing, rows)


# --- the data queries, without the browser -------------------------------------------------


def test_articles_per_day_counts_unique_articles_by_day_and_source(output):
    found = articles_per_day(open_output(str(output.path)), Period())
    expected = Counter((r["date"], r["source"]) for r in output.rows["articles"] if r["duplicate_of"] is None)
    assert {(r["date"], r["source"]): r["articles"] for r in found} == dict(expected)
    assert HOSTILE_SOURCE in {r["source"] for r in found}


def test_duplicates_and_rejects_by_reason(output):
    con = open_output(str(output.path))
    duplicates = Counter(r["duplicate_reason"] for r in output.rows["articles"] if r["duplicate_of"])
    assert duplicates["content"] >= 1  # the copied seed
    assert {r["reason"]: r["articles"] for r in duplicates_by_reason(con, Period())} == dict(duplicates)
    rejects = Counter((r["stage"], r["error"]) for r in output.rows["rejects"])
    found = {(r["stage"], r["error"]): r["rejects"] for r in rejects_by_reason(con, Period())}
    assert found == dict(rejects)
    assert any(input.endswith("empty.txt") for input in (r["input"] for r in output.rows["rejects"]))


def aliases(keys) -> dict:
    """The README's alias rule, in Python: a one-word person key joins the one full name
    in the data that ends in that word (none when there are several; Jr./Sr. are others)."""
    people = {k for k in keys if k and k.startswith("person:")}
    full = {}
    for key in people:
        words = [w for w in key[len("person:") :].split() if w not in ("jr", "sr", "ii", "iii", "iv")]
        if len(words) > 1 and f"person:{words[-1]}" in people:
            full.setdefault(f"person:{words[-1]}", set()).add(key)
    return {alias: next(iter(names)) for alias, names in full.items() if len(names) == 1}


def test_top_speakers_and_entities_match_the_rows(output):
    con = open_output(str(output.path))
    joined = aliases({r["entity_key"] for r in output.rows["entities"]})
    speaker_of = {}
    for r in output.rows["quotes"]:
        if r["speaker"]:
            key = joined.get(r["speaker_key"], r["speaker_key"]) if r["speaker_key"] else r["speaker"]
            speaker_of.setdefault(key, []).append(r["speaker"])
    found = top_speakers(con, Period(), 100)
    assert sorted((r["speaker"], r["quotes"]) for r in found) == sorted(
        (max(names, key=len), len(names)) for names in speaker_of.values()
    )
    assert [r["quotes"] for r in found] == sorted((r["quotes"] for r in found), reverse=True)
    entities = top_entities(con, Period(), 5)
    assert 0 < len(entities) <= 5 and not {r["label"] for r in entities} & {"DATE", "CARDINAL", "ORDINAL"}
    first = entities[0]
    articles_naming = {
        r["article_id"]
        for r in output.rows["entities"]
        if joined.get(r["entity_key"], r["entity_key"]) == first["entity"]
    }
    assert first["articles"] == len(articles_naming)


def test_top_entities_join_a_surname_to_the_full_name():
    """ "Putin" in one article and "Vladimir Putin" in another are one entity in the report."""
    import duckdb

    from schemas.duckdb_views import ENTITY_KEY_VIEWS

    con = duckdb.connect()
    con.execute(
        "CREATE TABLE entities AS SELECT * FROM (VALUES "
        "('a1', 'Vladimir Putin', 'PERSON', 'person:vladimir putin', DATE '2026-03-11'), "
        "('a2', 'Putin', 'PERSON', 'person:putin', DATE '2026-03-12'), "
        "('a3', 'Bill Clinton', 'PERSON', 'person:bill clinton', DATE '2026-03-12'), "
        "('a3', 'Hillary Clinton', 'PERSON', 'person:hillary clinton', DATE '2026-03-12'), "
        "('a4', 'Clinton', 'PERSON', 'person:clinton', DATE '2026-03-12')"
        ") AS t(article_id, canonical, label, entity_key, date)"
    )
    con.execute(
        "CREATE TABLE quotes AS SELECT 'a1' AS article_id, 'x' AS speaker, NULL AS speaker_key, "
        "DATE '2026-03-11' AS date"
    )
    for sql in ENTITY_KEY_VIEWS:
        con.execute(sql)
    found = {r["name"]: r["articles"] for r in top_entities(con, Period(), 10)}
    assert found["Vladimir Putin"] == 2 and "Putin" not in found
    assert found["Clinton"] == found["Bill Clinton"] == found["Hillary Clinton"] == 1  # a bare Clinton joins neither


def test_feed_health_has_last_success_304_rate_and_failures(output):
    found = {r["url"]: r for r in feed_health(open_output(str(output.path)), Period())}
    fetches = Counter(r["url"] for r in output.rows["feed_state"])
    good, bad = found[output.feed_url], found[output.failing_feed_url]
    assert good["fetches"] == fetches[output.feed_url] == 2 and good["failed"] == 0
    assert good["rate_304"] == 0.5 and good["last_success"] is not None and good["last_error"] is None
    assert bad["failed"] == bad["fetches"] == fetches[output.failing_feed_url] and bad["last_success"] is None
    assert bad["last_error"] == next(
        r["error"] for r in output.rows["feed_state"] if r["url"] == output.failing_feed_url
    )


def test_newest_quotes_first_with_their_articles(output):
    found = newest_quotes(open_output(str(output.path)), Period(), 1000)
    assert len(found) == len(output.rows["quotes"])
    assert [r["published_at"] for r in found] == sorted((r["published_at"] for r in found), reverse=True)
    hostile = [r for r in found if HOSTILE_QUOTE_WORDS in r["text"]]
    assert hostile and hostile[0]["title"] == HOSTILE_TITLE and hostile[0]["speaker"] == "Maria Lopez"


def test_a_period_keeps_only_its_days(output):
    days = sorted({r["date"] for r in output.rows["articles"]})
    con = open_output(str(output.path))
    found = articles_per_day(con, Period(days[0], days[0]))
    assert found and {r["date"] for r in found} == {days[0]}
    quotes_on_last_day = [q for q in output.rows["quotes"] if q["date"] == days[-1]]
    assert len(newest_quotes(con, Period(days[-1], days[-1]), 1000)) == len(quotes_on_last_day) > 0
    assert articles_per_day(con, Period(since=days[-1] + timedelta(days=1))) == []


def test_pivot_keeps_the_largest_series_and_sums_the_rest():
    rows = [
        {"day": d, "source": s, "n": n} for d, s, n in [(1, "a", 5), (1, "b", 3), (2, "a", 1), (2, "c", 2), (2, "d", 1)]
    ]
    days, table = pivot(rows, "day", "source", "n", keep=2)
    assert days == [1, 2]
    assert table == {"a": [5, 1], "b": [3, 0], "other": [0, 3]}
    # one series left over is drawn as itself, not as "other"
    assert set(pivot(rows, "day", "source", "n", keep=3)[1]) == {"a", "b", "c", "d"}


def test_only_http_urls_become_links():
    assert is_web_link("https://example.org/a") and is_web_link("HTTP://example.org")
    assert not is_web_link("javascript:alert(1)") and not is_web_link(None) and not is_web_link("file:///etc")


# --- the command -----------------------------------------------------------------------------


def test_a_folder_that_is_no_output_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    code, out, err = report(capsys, "--output", str(tmp_path), "--to", str(tmp_path / "r.html"))
    assert code == 2 and err.strip().count("\n") == 0 and "not a newsbeam output" in err
    assert not (tmp_path / "r.html").exists()


def test_bad_dates_are_usage_errors(output, tmp_path, capsys):
    target = str(tmp_path / "r.html")
    code, _, err = report(capsys, "--output", str(output.path), "--since", "2026-02-30", "--to", target)
    assert code == 2 and "--since takes a date YYYY-MM-DD" in err
    code, _, err = report(
        capsys, "--output", str(output.path), "--since", "2026-03-02", "--until", "2026-03-01", "--to", target
    )
    assert code == 2 and "is after --until" in err


def test_without_the_report_extra_it_says_what_to_install(output, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what `import matplotlib` sees when it is absent
    code, _, err = report(capsys, "--output", str(output.path), "--to", str(tmp_path / "r.html"))
    assert code == 2 and err.strip() == "newsbeam report: needs matplotlib: pip install 'newsbeam[report]'"


# --- the page in Chromium ----------------------------------------------------------------------


@dataclass
class Opened:
    console_errors: list
    outside_requests: list
    dialogs: list
    charts: dict  # section -> (width, height) of its chart, or None without one
    chart_colours: dict  # section -> distinct colours in a screenshot of its chart
    page_colours: int
    text: str
    counts: dict  # CSS selector -> matches


def open_in_chromium(html: Path, screenshot: Path, selectors: tuple = ()) -> Opened:
    """Open a file:// page with every other request refused, and look at what it shows."""
    from playwright.sync_api import sync_playwright

    console_errors, outside_requests, dialogs = [], [], []

    def refuse_the_network(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            outside_requests.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path())
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
            context.route("**/*", refuse_the_network)
            page = context.new_page()
            page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
            page.on("pageerror", lambda error: console_errors.append(str(error)))
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(html.as_uri(), wait_until="load")
            charts, chart_colours = {}, {}
            for section in CHART_SECTIONS:
                chart = page.locator(f"section#{section} figure.chart svg")
                box = chart.bounding_box() if chart.count() == 1 else None
                charts[section] = (box["width"], box["height"]) if box else None
                if box:
                    shot = screenshot.with_name(f"{screenshot.stem}-{section}.png")
                    chart.screenshot(path=str(shot))
                    chart_colours[section] = distinct_colours(shot)
            page.screenshot(path=str(screenshot), full_page=True)
            return Opened(
                console_errors,
                outside_requests,
                dialogs,
                charts,
                chart_colours,
                distinct_colours(screenshot),
                page.inner_text("body"),
                {selector: page.locator(selector).count() for selector in selectors},
            )
        finally:
            browser.close()


def distinct_colours(png: Path) -> int:
    with Image.open(png) as image:
        return len(image.convert("RGB").getcolors(maxcolors=1 << 24))


def test_report_page_renders_every_chart_offline(output, tmp_path, capsys):
    html = tmp_path / "report.html"
    code, out, _ = report(capsys, "--output", str(output.path), "--to", str(html))
    assert code == 0 and f"report {html}:" in out
    page = html.read_text()
    assert "<script" not in page and "&lt;script&gt;" in page  # the hostile title, escaped
    opened = open_in_chromium(
        html,
        tmp_path / "report.png",
        selectors=("section#quotes tr", "a[href^='javascript:']", "img", "script", "section#quotes b"),
    )
    assert opened.outside_requests == [] and opened.console_errors == [] and opened.dialogs == []
    for section in CHART_SECTIONS:
        width, height = opened.charts[section]
        assert width > 100 and height > 50, (section, opened.charts[section])
        assert opened.chart_colours[section] > 10, (section, opened.chart_colours[section])
    assert opened.page_colours > 100
    # hostile input shows as text: no element, no link, no script came out of it
    assert HOSTILE_TITLE in opened.text and HOSTILE_SOURCE in opened.text
    assert opened.counts == {
        "section#quotes tr": 1 + min(25, len(output.rows["quotes"])),
        "a[href^='javascript:']": 0,
        "img": 0,
        "script": 0,
        "section#quotes b": 0,
    }
    assert f"{output.failing_feed_url}" in opened.text and "50 %" in opened.text


def test_a_period_without_rows_is_a_page_saying_so(output, tmp_path, capsys):
    html = tmp_path / "empty.html"
    code, _, _ = report(
        capsys, "--output", str(output.path), "--since", "1990-01-01", "--until", "1990-12-31", "--to", str(html)
    )
    assert code == 0
    opened = open_in_chromium(html, tmp_path / "empty.png")
    assert opened.outside_requests == [] and opened.console_errors == []
    assert all(box is None for box in opened.charts.values())
    for line in (
        "Nothing was ingested in this period.",
        "No articles in this period.",
        "No entities in this period.",
        "No duplicates in this period.",
        "No rejects in this period.",
        "No feed fetches in this period.",
        "No quotes in this period.",
    ):
        assert line in opened.text


def test_an_output_with_only_rejects_is_a_page(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "empty.txt").write_text("")
    out = tmp_path / "out"
    assert main(["run", "--input", str(tmp_path / "in"), "--output", str(out)]) == 0
    html = tmp_path / "rejects.html"
    code, _, _ = report(capsys, "--output", str(out), "--to", str(html))
    assert code == 0
    opened = open_in_chromium(html, tmp_path / "rejects.png")
    assert opened.console_errors == [] and opened.outside_requests == []
    assert opened.charts["rejects"] is not None and opened.charts["articles"] is None
    assert "No articles in this period." in opened.text
