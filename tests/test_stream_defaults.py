"""`newsbeam stream` with its defaults (page fetching and NLP on) end to end: Prism as a
subprocess, a real feed and real article pages on 127.0.0.1, the real spaCy model.

Each stream gets only the flags a test needs: --allow-private-hosts (the server is on
loopback), short polls, windows and duration, and the one switch under test."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import REPO
from feed_server import FeedServer, Response, article_page, rss_feed

from pipeline.runners import local_prism_binary
from schemas.duckdb_views import open_output
from transforms.ingest.fetch import pause_before, politeness_key

needs_prism = pytest.mark.skipif(
    local_prism_binary() is None, reason="Prism not built: `make prism` builds it (Go module proxy)"
)

POLL, WINDOW = 1, 2
PER_HOST_LIMIT, PER_HOST_DELAY = 2, 0.5  # the command's defaults (--per-host-limit, FetchConfig)
# Allowed on top of poll + window: page fetches, loading spaCy, NLP, the commit
# (measured: 4 s from the poll to the rows in all, on 2 shared cores).
NLP_SECONDS = 15
PAGE_DELAY = 0.2  # each page answers this late, so overlapping requests would show

# (path, title, feed summary, page paragraphs). The feed's summaries quote a speaker
# the pages never mention (Maria Lopez), so where a quote comes from tells which
# text NLP read.
STORIES = [
    (
        "/story/1.html",
        "Harbour vote delayed",
        '"It is a difficult decision for everyone in the town," said Maria Lopez, the mayor.',
        [
            "The city council postponed its vote on the harbour plan on Tuesday after a long and heated "
            "debate that ran late into the evening.",
            '"We need more time to read the environmental report," said Harriet Vance, the council leader.',
            "Residents packed the public gallery, and many of them held signs asking the council to "
            "protect the old fish market.",
            "“The market is the heart of this town,” Oliver Brandt said after the meeting.",
        ],
    ),
    (
        "/story/2.html",
        "Rail line to reopen",
        "The valley line reopens next spring.",
        [
            "The regional rail line between the two valleys will reopen next spring after three years of "
            "repairs, the transport authority announced on Monday.",
            '"Passengers have waited long enough," said Colin Marsh, the head of the authority.',
            "Engineers replaced two bridges and more than ten kilometres of track during the closure, "
            "which cost far more than the authority had planned.",
        ],
    ),
    (
        "/story/3.html",
        "School roof repaired",
        "The school reopens after repairs.",
        [
            "Workers finished repairing the roof of the primary school on Friday, two weeks ahead of the "
            "date the education department had promised to parents.",
            '"The children can come back to their own classrooms," said Amelia Hart, the head teacher.',
            "The storm in March had torn away a large part of the roof and flooded three classrooms.",
        ],
    ),
]
GONE = ("/story/gone.html", "Missing page", "A story whose page is gone.")


class NewsSite:
    """A feed whose entries link to article pages on the same test server; records
    when the feed was asked for, and when each page request started and ended."""

    def __init__(self, server: FeedServer):
        self.server, self.lock, self.feed_requests, self.page_requests = server, threading.Lock(), [], []
        base = server.url("")
        entries = [(title, f"{base}{path}", f"<p>{summary}</p>") for path, title, summary, _ in STORIES]
        entries.append((GONE[1], f"{base}{GONE[0]}", f"<p>{GONE[2]}</p>"))
        feed = rss_feed("Valley News", entries)
        server.route("/news.xml", self.feed(Response(200, {"Content-Type": "application/rss+xml"}, feed)))
        for path, title, _, paragraphs in STORIES:
            page = article_page(title, paragraphs, f"{base}/canonical{path}", "Jane Reporter", "2024-04-29")
            server.route(path, self.page(Response(200, {"Content-Type": "text/html; charset=utf-8"}, page)))
        server.route(GONE[0], self.page(Response(404, body=b"gone")))

    def feed(self, response: Response):
        def handler(request):
            with self.lock:
                self.feed_requests.append(time.monotonic())
            return response

        return handler

    def page(self, response: Response):
        def handler(request):
            start = time.monotonic()
            time.sleep(PAGE_DELAY)
            with self.lock:
                self.page_requests.append((self.server.url(request.path), start, time.monotonic()))
            return response

        return handler

    @property
    def feed_url(self) -> str:
        return self.server.url("/news.xml")


@contextmanager
def stream(url: str, output: Path, duration: float, *switches: str):
    """The default command line, with only what a test needs for speed and loopback;
    killed (with its Prism) if the test fails before it ends."""
    command = [
        sys.executable,
        "-m",
        "pipeline",
        "stream",
        "--feed",
        url,
        "--output",
        str(output),
        "--allow-private-hosts",
        "--poll-interval",
        str(POLL),
        "--window",
        str(WINDOW),
        "--duration",
        str(duration),
        *switches,
    ]
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


def rows(output: Path, sql: str) -> list:
    return open_output(str(output)).execute(sql).fetchall()


def wait_for(predicate, process: subprocess.Popen, timeout: float = 60) -> float:
    """When (monotonic) predicate() first held, checked while the stream runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if predicate():
            return time.monotonic()
        time.sleep(0.25)
    if predicate():
        return time.monotonic()
    out, err = process.communicate() if process.poll() is not None else ("", "")
    raise AssertionError(f"not true in time (stream exit code {process.poll()}): {out[-1500:]} {err[-3000:]}")


def finished(process: subprocess.Popen, timeout: float = 90) -> str:
    """The stream ends by itself after --duration, with its summary; its output."""
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, (out[-2000:], err[-3000:])
    assert "[inputs = articles + duplicates + rejects: ok]" in out, out
    return out


def has_tables(output: Path, *sql: str) -> bool:
    """Every query returns a row: the stream has committed what the test waits for."""
    try:
        return all(rows(output, query) for query in sql)
    except Exception:  # noqa: BLE001 - nothing committed yet: views over no files are fine, but a
        return False  # window being published may be read half-listed; retry


def commit_tables(output: Path) -> dict:
    """commit id -> the tables its record lists, for the stream's window commits."""
    found = {}
    for record in (output / "_runs").glob("*-w*.commit.json"):
        data = json.loads(record.read_text())
        found[data["commit_id"]] = {entry["table"] for entry in data["files"]}
    return found


def page_text(path: str) -> str:
    """A page's body as the one HTML path gives it: its paragraphs, without the headline
    that opens the page (the headline is the article's title)."""
    _, _title, _, paragraphs = next(story for story in STORIES if story[0] == path)
    return "\n\n".join(paragraphs)


# --- the defaults ------------------------------------------------------------------


@needs_prism
def test_default_stream_fetches_pages_and_runs_nlp_within_poll_window_and_nlp_time(tmp_path):
    output = tmp_path / "out"
    with FeedServer() as server:
        site = NewsSite(server)
        with stream(site.feed_url, output, 10) as process:
            # Queryable: every page's text, its entities and its quotes with speakers.
            seen = wait_for(
                lambda: has_tables(
                    output,
                    "SELECT 1 FROM articles WHERE text_source = 'page' HAVING count(*) = 3",
                    "SELECT 1 FROM entities WHERE text = 'Amelia Hart'",
                    "SELECT 1 FROM quotes WHERE speaker = 'Colin Marsh'",
                ),
                process,
            )
            finished(process)
    # From the poll that found the entries: its pages, the window's end, spaCy's first
    # load and the window's commit.
    latency = seen - site.feed_requests[0]
    assert latency <= POLL + WINDOW + NLP_SECONDS, latency

    articles = {row[0]: row[1:] for row in rows(output, "SELECT title, text_source, text, url FROM articles")}
    assert len(articles) == 4  # each entry once, however many polls saw the feed
    for path, title, _, _ in STORIES:
        assert articles[title] == ("page", page_text(path), server.url(f"/canonical{path}"))
    # A page that cannot be fetched: the feed's summary stays, the failure is a reject.
    assert articles[GONE[1]] == ("feed", GONE[2], server.url(GONE[0]))
    assert rows(output, "SELECT input, stage, error FROM rejects") == [(server.url(GONE[0]), "fetch", "http_error")]

    people = {row[0] for row in rows(output, "SELECT canonical FROM entities WHERE label = 'PERSON'")}
    assert people == {"Harriet Vance", "Oliver Brandt", "Colin Marsh", "Amelia Hart"}  # not Maria Lopez:
    quotes = set(
        rows(
            output,
            "SELECT q.speaker, q.text, a.title "  # NLP read the pages
            "FROM quotes q JOIN articles a USING (article_id)",
        )
    )
    assert quotes == {
        ("Harriet Vance", "We need more time to read the environmental report,", "Harbour vote delayed"),
        ("Oliver Brandt", "The market is the heart of this town,", "Harbour vote delayed"),
        ("Colin Marsh", "Passengers have waited long enough,", "Rail line to reopen"),
        ("Amelia Hart", "The children can come back to their own classrooms,", "School roof repaired"),
    }
    for start, end, quote, text in rows(
        output, 'SELECT q.start, q."end", q.text, a.text FROM quotes q JOIN articles a USING (article_id)'
    ):
        assert text[start:end] == quote  # offsets point into the stored page text

    # The window of the poll that found the entries commits all its rows together.
    with_articles = [tables for tables in commit_tables(output).values() if "articles" in tables]
    assert with_articles == [{"articles", "entities", "quotes", "signatures", "rejects", "feed_state"}]
    assert rows(output, "SELECT count(*) FROM signatures") == [(4,)]
    assert_polite(site.page_requests, [server.url(path) for path, *_ in STORIES] + [server.url(GONE[0])])


def assert_polite(page_requests: list, urls: list) -> None:
    """Each page asked for once, at most --per-host-limit requests to the host at a time,
    and the pause between two requests of one (host, slot)."""
    requests = sorted(page_requests, key=lambda r: r[1])
    assert sorted(url for url, _, _ in requests) == sorted(urls)
    for _, start, _ in requests:
        assert sum(1 for _, s, e in requests if s <= start < e) <= PER_HOST_LIMIT
    by_key = {}
    for url, start, end in requests:
        by_key.setdefault(politeness_key(url, PER_HOST_LIMIT), []).append((start, end))
    assert max(len(spans) for spans in by_key.values()) >= 2  # four pages, two slots
    for spans in by_key.values():
        for (_, previous_end), (start, _) in zip(spans, spans[1:]):
            # The server notes `end` just before it answers; the client's is a little later.
            assert start - previous_end >= PER_HOST_DELAY - 0.05, spans


# --- the switches ------------------------------------------------------------------


@needs_prism
def test_no_fetch_articles_keeps_the_feed_text_and_runs_nlp_on_it(tmp_path):
    output = tmp_path / "out"
    with FeedServer() as server:
        site = NewsSite(server)
        with stream(site.feed_url, output, 10, "--no-fetch-articles") as process:
            seen = wait_for(lambda: has_tables(output, "SELECT 1 FROM quotes WHERE speaker = 'Maria Lopez'"), process)
            finished(process)
    assert seen - site.feed_requests[0] <= POLL + WINDOW + NLP_SECONDS
    assert site.page_requests == []  # no page was asked for
    assert sorted(rows(output, "SELECT title, text_source, text FROM articles")) == sorted(
        [(title, "feed", summary) for _, title, summary, _ in STORIES] + [(GONE[1], "feed", GONE[2])]
    )
    assert rows(output, "SELECT speaker, text FROM quotes") == [
        ("Maria Lopez", "It is a difficult decision for everyone in the town,")
    ]
    assert rows(output, "SELECT canonical FROM entities WHERE label = 'PERSON'") == [("Maria Lopez",)]
    assert rows(output, "SELECT count(*) FROM rejects") == [(0,)]


@needs_prism
def test_no_nlp_fetches_pages_and_writes_no_entities_or_quotes(tmp_path):
    output = tmp_path / "out"
    with FeedServer() as server:
        site = NewsSite(server)
        with stream(site.feed_url, output, 8, "--no-nlp") as process:
            finished(process)
        page_urls = [server.url(path) for path, *_ in STORIES] + [server.url(GONE[0])]
    texts = dict(rows(output, "SELECT title, text FROM articles WHERE text_source = 'page'"))
    assert texts == {title: page_text(path) for path, title, _, _ in STORIES}
    assert rows(output, "SELECT count(*) FROM entities") == [(0,)]
    assert rows(output, "SELECT count(*) FROM quotes") == [(0,)]
    assert rows(output, "SELECT stage, error FROM rejects") == [("fetch", "http_error")]
    assert_polite(site.page_requests, page_urls)


def test_pause_before_a_keys_next_request():
    assert pause_before(None, 0.5, 100.0) == 0.0  # a key's first request
    assert pause_before(99.8, 0.5, 100.0) == pytest.approx(0.3)
    assert pause_before(99.0, 0.5, 100.0) == 0.0  # the pause has passed
