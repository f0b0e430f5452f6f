"""`newsbeam run --feed URL` end to end against a real HTTP server on 127.0.0.1."""

from feed_server import Response, feed_server, rss_feed  # noqa: F401 (fixture)

from pipeline.cli import main
from schemas.duckdb_views import open_output

PRIVATE_OK = "--allow-private-hosts"


def run(capsys, *args):
    code = main(["run", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def rows(output, sql):
    return open_output(str(output)).execute(sql).fetchall()


def test_url_feed_pages_conditional_get_and_per_feed_outcomes(tmp_path, capsys, feed_server):
    output = tmp_path / "out"
    feed = feed_server.url("/feed.xml")
    code, printed = run(capsys, "--feed", feed, "--output", str(output), "--no-nlp", PRIVATE_OK)
    assert code == 0 and "feeds (new=1)" in printed and ": ok]" in printed
    found = rows(output, "SELECT title, text_source, url FROM articles ORDER BY title")
    # entry 1's page was fetched (canonical URL from the page); entry 2's page is missing:
    # the feed's summary is kept and the page failure recorded; entry 3 has no text at all.
    assert found[0][:2] == ("Broken link", "feed")
    assert found[1] == ("Harbour plan", "page", feed_server.url("/canonical/harbour"))
    assert len(found) == 2
    stages = rows(output, "SELECT stage, error FROM rejects ORDER BY ALL")
    assert ("fetch", "http_error") in stages and ("parse", "empty_entry") in stages

    code, printed = run(capsys, "--feed", feed, "--output", str(output), "--no-nlp", PRIVATE_OK)
    assert code == 0 and "feeds (not_modified=1)" in printed and "inputs=0" in printed
    sent = feed_server.requests_to("/feed.xml")[-1].headers
    assert sent.get("if-none-match") == '"v1"' and "newsbeam/" in sent.get("user-agent", "")
    assert rows(output, "SELECT outcome, count(*) FROM feed_state GROUP BY 1 ORDER BY 1") == [
        ("new", 1),
        ("not_modified", 1),
    ]


def test_changed_feed_ingests_only_new_entries(tmp_path, capsys, feed_server):
    output = tmp_path / "out"
    base = feed_server.url("")
    entries = [("One", f"{base}/n/1", "<p>First story text.</p>")]
    feed_server.route(
        "/grow.xml", lambda r: Response(200, {"Content-Type": "application/rss+xml"}, rss_feed("Grow", entries))
    )
    args = (
        "--feed",
        feed_server.url("/grow.xml"),
        "--output",
        str(output),
        "--no-nlp",
        "--no-fetch-articles",
        PRIVATE_OK,
    )
    assert run(capsys, *args)[0] == 0
    entries.insert(0, ("Two", f"{base}/n/2", "<p>Second story text.</p>"))
    code, printed = run(capsys, *args)
    assert code == 0 and "articles=1 " in printed and "already_ingested=1" in printed
    assert rows(output, "SELECT title FROM articles ORDER BY title") == [("One",), ("Two",)]


def test_private_hosts_are_refused_without_the_flag(tmp_path, capsys, feed_server):
    output = tmp_path / "out"
    code, printed = run(capsys, "--feed", feed_server.url("/feed.xml"), "--output", str(output), "--no-nlp")
    assert code == 0 and "feeds (failed=1)" in printed and "rejects=1" in printed
    assert f"feed {feed_server.url('/feed.xml')}: failed (blocked_host)" in printed
    ((error, detail),) = rows(output, "SELECT error, detail FROM rejects")
    assert error == "blocked_host" and "--allow-private-hosts" in detail
    assert feed_server.requests_to("/feed.xml") == []


def test_feeds_file_with_comments(tmp_path, capsys, feed_server):
    listing = tmp_path / "feeds.txt"
    listing.write_text(f"# my feeds\n{feed_server.url('/gzip.xml')}\n\nnot a url\n")
    output = tmp_path / "out"
    code, printed = run(
        capsys, "--feeds-file", str(listing), "--output", str(output), "--no-nlp", "--no-fetch-articles", PRIVATE_OK
    )
    assert code == 0 and "feeds (new=1)" in printed
    assert rows(output, "SELECT count(*) FROM articles") == [(2,)]  # the third entry has no text
    assert (f"{listing}:4", "read") in rows(output, "SELECT input, stage FROM rejects")
