"""`newsbeam stream` on Prism against a real feed server on 127.0.0.1, and its stateful pieces."""

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from conftest import REPO, beam_pipeline
from feed_server import FeedServer, Response, rss_feed

from pipeline.runners import local_prism_binary
from schemas.duckdb_views import open_output
from transforms.ingest.streaming import DedupAgainstSeen, prune, shard_of

NOW = datetime(2026, 11, 28, tzinfo=timezone.utc)
needs_prism = pytest.mark.skipif(
    local_prism_binary() is None, reason="Prism not built: `make prism` builds it (Go module proxy)"
)


def test_prune_keeps_only_keys_inside_the_horizon():
    seen = {"old": ("a", NOW - timedelta(days=8)), "new": ("b", NOW - timedelta(days=1))}
    assert prune(seen, NOW, timedelta(days=7)) == {"new": ("b", NOW - timedelta(days=1))}


def test_shards_are_stable_and_in_range():
    assert shard_of("https://ex.com/a", 16) == shard_of("https://ex.com/a", 16)
    assert {shard_of(str(i), 4) for i in range(100)} == {0, 1, 2, 3}


def test_dedup_against_seen_keeps_first_copy_across_elements(tmp_path):
    rows = [
        {"article_id": "a", "content_hash": "h"},
        {"article_id": "b", "content_hash": "h"},
        {"article_id": "c", "content_hash": "x"},
        {"article_id": "d", "content_hash": None},
    ]
    with beam_pipeline() as p:
        kept, dups = (
            p
            | beam.Create(rows)
            | DedupAgainstSeen("content_hash", "content", str(tmp_path), timedelta(days=7), shards=2)
        )
        assert_that(kept | "KeptIds" >> beam.Map(lambda r: r["article_id"]), equal_to(["a", "c", "d"]), label="kept")
        assert_that(
            dups | "DupIds" >> beam.Map(lambda r: (r["duplicate_of"], r["duplicate_reason"])),
            equal_to([("a", "content")]),
            label="dups",
        )


class GrowingFeed:
    """A feed on the test server whose entries the test adds while a stream polls it."""

    def __init__(self, server: FeedServer):
        self.entries = []
        self.server = server
        server.route(
            "/live.xml",
            lambda r: Response(200, {"Content-Type": "application/rss+xml"}, rss_feed("Live", list(self.entries))),
        )

    def add(self, n: int):
        self.entries.insert(
            0,
            (
                f"Story {n}",
                f"http://127.0.0.1/s/{n}",
                f"<p>Story number {n} has its own distinct text, paragraph {n}.</p>",
            ),
        )

    @property
    def url(self):
        return self.server.url("/live.xml")


def start_stream(url, output, *extra):
    command = [
        sys.executable,
        "-m",
        "pipeline",
        "stream",
        "--feed",
        url,
        "--output",
        str(output),
        "--poll-interval",
        "1",
        "--window",
        "2",
        "--allow-private-hosts",
        "--no-fetch-articles",
        "--no-nlp",
        *extra,
    ]
    return subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def titles(output) -> list:
    try:
        return [r[0] for r in open_output(str(output)).execute("SELECT title FROM articles ORDER BY title").fetchall()]
    except Exception:  # noqa: BLE001 - nothing written yet; wait_for fails the test if it never comes
        return []


def wait_for(predicate, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.25)
    raise AssertionError(f"not true within {timeout} s")


def stop(process, timeout=60):
    """SIGTERM, as a scheduler would send it; the stream must end cleanly by itself."""
    try:
        process.send_signal(signal.SIGTERM)
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise


@needs_prism
def test_new_entry_is_queryable_within_poll_plus_window_plus_30s(tmp_path):
    output = tmp_path / "out"
    with FeedServer() as server:
        feed = GrowingFeed(server)
        feed.add(1)
        stream = start_stream(feed.url, output)
        try:
            wait_for(lambda: titles(output) == ["Story 1"], 90)
            feed.add(2)
            latency = wait_for(lambda: "Story 2" in titles(output), 1 + 2 + 30)
        finally:
            out, err = stop(stream)
    assert stream.returncode == 0, err[-2000:]
    assert latency <= 33 and "[inputs = articles + duplicates + rejects: ok]" in out


def first_stream_ends_after_story_3(feed, output, end):
    """A stream commits stories 1 and 2, story 3 comes, then `end(stream)` ends it."""
    for n in (1, 2):
        feed.add(n)
    first = start_stream(feed.url, output)
    try:
        wait_for(lambda: titles(output) == ["Story 1", "Story 2"], 90)
        feed.add(3)
    finally:
        ended = end(first)
    return first, ended


def kill_mid_window(process):
    time.sleep(1.5)  # story 3 polled, its window not over yet
    os.killpg(process.pid, signal.SIGKILL)
    return process.communicate(timeout=60)


@needs_prism
def test_stop_mid_way_and_restart_neither_loses_nor_repeats(tmp_path):
    output = tmp_path / "out"
    with FeedServer() as server:
        feed = GrowingFeed(server)
        first, (out, err) = first_stream_ends_after_story_3(feed, output, stop)
        assert first.returncode == 0, err[-2000:]
        hidden = [f for _, _, fs in os.walk(output) for f in fs if f.startswith(".")]
        assert hidden == []  # nothing half-written is left behind
        feed.add(4)
        second = start_stream(feed.url, output, "--duration", "8")
        out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err[-2000:]
    assert titles(output) == ["Story 1", "Story 2", "Story 3", "Story 4"]
    con = open_output(str(output))
    assert con.execute("SELECT count(*) - count(DISTINCT article_id) FROM articles").fetchone() == (0,)


@needs_prism
def test_a_stream_killed_mid_window_then_restarted_neither_loses_nor_repeats(tmp_path):
    """SIGKILL (no clean stop: the window in progress is never committed), then a restart:
    it clears what the dead stream staged, takes over its lock, and the feed's entries
    end up in the tables exactly once."""
    from pipeline.maintenance import check_output

    output = tmp_path / "out"
    with FeedServer() as server:
        feed = GrowingFeed(server)
        first, _ = first_stream_ends_after_story_3(feed, output, kill_mid_window)
        assert first.returncode == -signal.SIGKILL
        feed.add(4)
        second = start_stream(feed.url, output, "--duration", "8")
        out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err[-2000:]
    assert "recovered: took over the lock" in out
    # the restarted stream polls the four entries; its accounting comes from its commits
    assert "inputs=4 " in out and "[inputs = articles + duplicates + rejects: ok]" in out
    assert titles(output) == ["Story 1", "Story 2", "Story 3", "Story 4"]
    report = check_output(str(output))
    assert report.clean, [p.line() for p in report.problems]
