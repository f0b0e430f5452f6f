"""Sitemaps (urlset) and sitemap indexes (sitemapindex), with the news extension.

A sitemap entry is a page URL without text: it becomes an article only when its
page is fetched (transforms/ingest/fetch.py, FetchArticlePages); until then it
travels as a *stub*, a ParsedArticle with no text and `text_source` "sitemap",
carrying the entry's `news:title`, `news:publication_date`, `news:language` and
`news:publication/news:name` (as source) and, for the state across runs, its
`<lastmod>`.

`newsbeam run --sitemap URL`: `FetchSitemaps` fetches the documents with the
feeds' fetcher and state (conditional GET, rows in `feed_state`), then the child
sitemaps of indexes (one level: the protocol forbids nesting indexes), and keeps
only the entries whose page no earlier run fetched, or whose `<lastmod>` moved
since (the `sitemap_pages` table).

XML is parsed with defusedxml: a document declaring entities is refused
(`unsafe_xml`); the parsers never raise.
"""

from __future__ import annotations

import re
import zlib

import apache_beam as beam
from apache_beam import pvalue
from defusedxml import ElementTree as SafeElementTree
from defusedxml.common import DefusedXmlException

from schemas.tables import SITEMAP_PAGES
from transforms.articles import partition_date
from transforms.dedup.stored import ReadStoredKeys
from transforms.ingest.feed_lists import local_name
from transforms.ingest.fetch import FetchFeeds, stored_feed_states
from transforms.ingest.read import GZIP_MAGIC, MAX_INPUT_BYTES, gunzip
from transforms.ingest.timeparse import parse_datetime
from transforms.ingest.urls import url_error
from transforms.languages import normalise_language
from transforms.rejects import make_reject

SITEMAP_SOURCE = "sitemap"  # text_source of a stub (an entry whose page is not fetched yet)
URLSET, SITEMAPINDEX = "urlset", "sitemapindex"
MAX_SITEMAP_ENTRIES = 50_000  # the protocol's limit per document
# Child sitemaps fetched per index, newest <lastmod> first: news indexes often list
# every month back to the site's start, and only the newest hold news.
MAX_CHILD_SITEMAPS = 100
ENTRIES_TAG, CHILDREN_TAG, REJECTS_TAG, STATE_TAG = "entries", "children", "rejects", "feed_state"
SKIPPED_TAG, DECISIONS_TAG = "skipped", "decisions"


def text_of(element) -> str | None:
    text = " ".join((element.text or "").split()) if element is not None else ""
    return text or None


def child(element, name: str):
    """The first child with this local name, whatever its namespace (sites spell the
    news namespace with https, a trailing slash, another prefix, or none)."""
    return next((c for c in element if local_name(c.tag) == name), None)


def news_fields(url_element) -> dict:
    """The news extension's fields of one <url> (all None without <news:news>)."""
    news = child(url_element, "news")
    if news is None:
        return {"title": None, "published_at": None, "language": None, "source": None}
    publication = child(news, "publication")
    return {
        "title": text_of(child(news, "title")),
        "published_at": parse_datetime(text_of(child(news, "publication_date"))),
        "language": normalise_language(text_of(child(publication, "language")) if publication is not None else None),
        "source": text_of(child(publication, "name")) if publication is not None else None,
    }


def location_problem(loc: str | None) -> str | None:
    """Why an entry's <loc> cannot be fetched, or None."""
    if not loc:
        return "entry has no <loc>"
    if not re.match(r"https?://", loc, re.IGNORECASE):
        return f"<loc> {loc[:200]!r} is not an http(s) URL"
    problem = url_error(loc)
    return f"<loc> {loc[:200]!r}: {problem}" if problem else None


def parse_sitemap(data: bytes, input_name: str) -> tuple[str | None, list[dict], list[dict]]:
    """Sitemap bytes (gzipped or not) -> (kind, entries, rejects). Never raises.

    kind: "urlset" or "sitemapindex" (None when the document is no sitemap). An entry
    is {"input": NAME#N, "url", "lastmod", "title", "published_at", "language",
    "source"} (the news fields None in an index). A document that is not XML, not a
    sitemap or unsafe is one reject; an entry without a usable <loc> is one reject."""
    try:
        return parse_sitemap_unguarded(data, input_name)
    except Exception as error:  # noqa: BLE001 - last line of defence: one bad document is a reject, never a crash
        return None, [], [make_reject(input_name, "parse", "bad_sitemap", f"{type(error).__name__}: {error}"[:500])]


def parse_sitemap_unguarded(data, input_name):
    if not isinstance(data, (bytes, bytearray)) or not bytes(data).strip():
        return None, [], [make_reject(input_name, "parse", "empty_sitemap", "no bytes")]
    data = bytes(data)
    if data[:2] == GZIP_MAGIC:  # `.xml.gz` served as a file, not as a Content-Encoding
        try:
            data = gunzip(data, MAX_INPUT_BYTES)
        except (ValueError, zlib.error, EOFError) as error:
            return None, [], [make_reject(input_name, "parse", "bad_gzip", str(error))]
    try:
        root = SafeElementTree.fromstring(data)
    except DefusedXmlException as error:
        return None, [], [make_reject(input_name, "parse", "unsafe_xml", f"{type(error).__name__}: {error}")]
    except SafeElementTree.ParseError as error:
        return None, [], [make_reject(input_name, "parse", "bad_sitemap", f"not XML: {error}"[:500])]
    kind = local_name(root.tag)
    if kind not in (URLSET, SITEMAPINDEX):
        return (
            None,
            [],
            [
                make_reject(
                    input_name, "parse", "not_sitemap", f"root element is <{kind}>, not <urlset> or <sitemapindex>"
                )
            ],
        )
    item_name = "url" if kind == URLSET else "sitemap"
    items = [element for element in root if local_name(element.tag) == item_name]
    entries, rejects = [], []
    for index, item in enumerate(items[:MAX_SITEMAP_ENTRIES]):
        name = f"{input_name}#{index}"
        loc = text_of(child(item, "loc"))
        problem = location_problem(loc)
        if problem:
            rejects.append(make_reject(name, "parse", "bad_url", problem))
            continue
        fields = news_fields(item) if kind == URLSET else {}
        entries.append(
            {
                "input": name,
                "url": loc,
                "lastmod": parse_datetime(text_of(child(item, "lastmod"))),
                "title": None,
                "published_at": None,
                "language": None,
                "source": None,
                **fields,
            }
        )
    if len(items) > MAX_SITEMAP_ENTRIES:
        rejects.append(
            make_reject(
                input_name,
                "parse",
                "too_many_entries",
                f"{len(items)} entries; the first {MAX_SITEMAP_ENTRIES} were read",
            )
        )
    if not items:
        rejects.append(make_reject(input_name, "parse", "empty_sitemap", f"<{kind}> lists nothing"))
    return kind, entries, rejects


def entry_stub(entry: dict) -> dict:
    """A urlset entry as a ParsedArticle without text, to be completed by its page."""
    return {
        "input": entry["input"],
        "url": entry["url"],
        "source": entry["source"],
        "title": entry["title"],
        "text": "",
        "authors": [],
        "language": entry["language"],
        "published_at": entry["published_at"],
        "text_source": SITEMAP_SOURCE,
        "sitemap_url": entry["url"],
        "sitemap_lastmod": entry["lastmod"],
    }


def is_stub(article: dict) -> bool:
    return article.get("text_source") == SITEMAP_SOURCE


def parse_sitemap_input(raw: dict) -> list[dict]:
    """A sitemap file (RawInput) -> stubs and rejects. A sitemap index on disk names
    remote documents: its children are not fetched (give the index to --sitemap)."""
    kind, entries, rejects = parse_sitemap(raw["data"], raw["input"])
    if kind == SITEMAPINDEX:
        return rejects + [
            make_reject(
                entry["input"],
                "parse",
                "index_file",
                f"child sitemap {entry['url'][:200]} of an index file is not fetched; give the index to --sitemap",
            )
            for entry in entries
        ]
    return [entry_stub(entry) for entry in entries] + rejects


# --- --sitemap URLs -----------------------------------------------------------------


def document_outputs(raw: dict, depth: int):
    """A fetched sitemap document -> tagged stubs, child sitemap URLs (of an index at
    depth 1) and rejects. Children are taken newest <lastmod> first, at most
    MAX_CHILD_SITEMAPS."""
    url = raw["input"]
    kind, entries, rejects = parse_sitemap(raw["data"], url)
    for reject in rejects:
        yield pvalue.TaggedOutput(REJECTS_TAG, reject)
    if kind == URLSET:
        for entry in entries:
            yield pvalue.TaggedOutput(ENTRIES_TAG, entry_stub(entry))
    elif kind == SITEMAPINDEX and depth > 1:
        yield pvalue.TaggedOutput(
            REJECTS_TAG,
            make_reject(
                url, "parse", "nested_index", "a sitemap index listed by an index: its sitemaps are not fetched"
            ),
        )
    elif kind == SITEMAPINDEX:
        newest_first = sorted(
            entries, key=lambda e: (e["lastmod"] is None, -(e["lastmod"].timestamp() if e["lastmod"] else 0))
        )
        for entry in newest_first[:MAX_CHILD_SITEMAPS]:
            yield pvalue.TaggedOutput(CHILDREN_TAG, entry["url"])
        if len(entries) > MAX_CHILD_SITEMAPS:
            yield pvalue.TaggedOutput(
                REJECTS_TAG,
                make_reject(
                    url,
                    "parse",
                    "too_many_sitemaps",
                    f"{len(entries)} child sitemaps; the newest {MAX_CHILD_SITEMAPS} were fetched",
                ),
            )


def lastmod_moved(lastmod, stored_lastmods: list) -> bool:
    """Whether a page fetched before is due again: its entry's <lastmod> is later than
    every one stored (an entry without <lastmod> gives no reason to fetch again)."""
    if lastmod is None:
        return False
    known = [moment for moment in stored_lastmods if moment is not None]
    return not known or lastmod > max(known)


def page_decisions(grouped):
    """(url, {"stubs", "stored"}) -> the stub to fetch (main output), or tagged
    `skipped` decisions: `unchanged` (fetched by an earlier run, <lastmod> not moved)
    and `repeated` (listed more than once in this run: fetched once)."""
    _, groups = grouped
    stubs = sorted(groups["stubs"], key=lambda stub: stub["input"])
    if not stubs:
        return
    stored = [row["lastmod"] for row in groups["stored"]]
    due = not stored or lastmod_moved(stubs[0]["sitemap_lastmod"], stored)
    if due:
        yield stubs[0]
    for stub in stubs[1:] if due else stubs:
        yield pvalue.TaggedOutput(SKIPPED_TAG, {"input": stub["input"], "decision": "repeated" if due else "unchanged"})


def sitemap_page_rows(article: dict, run_id: str, fetched_at) -> list[dict]:
    """[the SITEMAP_PAGES row] of a sitemap entry whose page was fetched; [] for other articles."""
    if "sitemap_url" not in article or article.get("text_source") != "page":
        return []
    return [
        {
            "url": article["sitemap_url"],
            "sitemap": article["input"].rsplit("#", 1)[0],
            "lastmod": article.get("sitemap_lastmod"),
            "fetched_at": fetched_at,
            "run_id": run_id,
            "date": partition_date(fetched_at),
        }
    ]


def fetched_decision(_stub: dict) -> dict:
    return {"decision": "fetched"}


def with_state(url: str, states: dict) -> tuple:
    return url, states.get(url)


class FetchSitemaps(beam.PTransform):
    """Sitemap URLs -> dict of PCollections: `entries` (stubs whose page is due),
    `decisions` ({"decision": fetched, unchanged or repeated} per entry), `feed_state`
    (FEED_STATE rows, one per document fetched), `rejects` (documents that failed to
    fetch or parse, entries without a usable <loc>)."""

    def __init__(self, urls, output_dir: str, config):
        super().__init__()
        self.urls, self.output_dir, self.config = list(urls), output_dir, config

    def expand(self, pbegin):
        states = stored_feed_states(self.output_dir)  # small: a row per document per run
        fetched = (
            pbegin
            | "SitemapUrls" >> beam.Create([with_state(url, states) for url in self.urls])
            | "FetchDocuments" >> FetchFeeds(self.config)
        )
        found = fetched["raw"] | "ParseDocuments" >> beam.FlatMap(document_outputs, 1).with_outputs(
            ENTRIES_TAG, CHILDREN_TAG, REJECTS_TAG
        )
        children = (
            found[CHILDREN_TAG]
            | "OnceEachChild" >> beam.Distinct()
            | "ChildStates" >> beam.Map(with_state, states)
            | "FetchChildren" >> FetchFeeds(self.config)
        )
        found_in_children = children["raw"] | "ParseChildren" >> beam.FlatMap(document_outputs, 2).with_outputs(
            ENTRIES_TAG, CHILDREN_TAG, REJECTS_TAG
        )
        stubs = (found[ENTRIES_TAG], found_in_children[ENTRIES_TAG]) | "AllEntries" >> beam.Flatten()
        stored = pbegin | "StoredPages" >> ReadStoredKeys(self.output_dir, SITEMAP_PAGES, ("url", "lastmod"))
        decided = (
            {
                "stubs": stubs | "KeyStubs" >> beam.Map(lambda stub: (stub["url"], stub)),
                "stored": stored | "KeyStored" >> beam.Map(lambda row: (row["url"], row)),
            }
            | "GroupByPage" >> beam.CoGroupByKey()
            | "Decide" >> beam.FlatMap(page_decisions).with_outputs(SKIPPED_TAG, main=ENTRIES_TAG)
        )
        rejects = (
            fetched["rejects"],
            children["rejects"],
            found[REJECTS_TAG],
            found_in_children[REJECTS_TAG],
        ) | "AllRejects" >> beam.Flatten()
        states_out = (fetched["feed_state"], children["feed_state"]) | "AllStates" >> beam.Flatten()
        decisions = (
            decided[ENTRIES_TAG] | "FetchedDecisions" >> beam.Map(fetched_decision),
            decided[SKIPPED_TAG],
        ) | "AllDecisions" >> beam.Flatten()
        return {
            ENTRIES_TAG: decided[ENTRIES_TAG],
            DECISIONS_TAG: decisions,
            STATE_TAG: states_out,
            REJECTS_TAG: rejects,
        }
