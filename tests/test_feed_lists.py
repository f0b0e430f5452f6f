"""Feed lists: text files and OPML, local and served."""

from feed_server import Response, feed_server  # noqa: F401 - pytest fixture

from pipeline.cli import main
from schemas.duckdb_views import open_output
from transforms.ingest.feed_lists import load_feed_list, load_feed_lists, parse_feed_list_text, parse_opml
from transforms.ingest.http_fetch import FetchConfig

LOCAL = FetchConfig(allow_private_hosts=True, connect_timeout=2, read_timeout=2, per_host_delay=0)


def test_text_list_with_comments_blanks_and_junk(tmp_path):
    (tmp_path / "local.xml").write_text("<rss/>")
    listing = tmp_path / "feeds.txt"
    listing.write_text(
        "# my feeds\n\nhttps://example.com/a.xml\n  https://example.com/b.xml   # inline comment\n"
        "https://example.com/a.xml\nlocal.xml\nmissing.xml\nftp://example.com/c\nhttp://\n"
    )
    feeds, rejects = load_feed_list(str(listing))
    assert feeds == ["https://example.com/a.xml", "https://example.com/b.xml", str(tmp_path / "local.xml")]
    assert [(r["input"], r["error"]) for r in rejects] == [
        (f"{listing}:7", "not_found"),
        (f"{listing}:8", "bad_url"),
        (f"{listing}:9", "bad_url"),
    ]
    assert all(r["stage"] == "read" and r["detail"] for r in rejects)


def test_url_fragment_is_not_a_comment():
    feeds, rejects = parse_feed_list_text("https://example.com/feed#main\n", "l")
    assert feeds == ["https://example.com/feed#main"] and rejects == []


def test_opml_nested_outlines(tmp_path):
    opml = tmp_path / "subs.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="1.0"><body>'
        '<outline text="Tech"><outline text="Deep"><outline xmlUrl="https://a.example/rss"/></outline>'
        '<outline text="B" xmlURL="https://b.example/atom"/></outline>'
        '<outline text="site only" htmlUrl="https://c.example/"/>'
        '<outline text="bad" xmlUrl="javascript:alert(1)"/></body></opml>'
    )
    feeds, rejects = load_feed_list(str(opml))
    assert feeds == ["https://a.example/rss", "https://b.example/atom"]
    assert len(rejects) == 1 and rejects[0]["error"] == "bad_url" and "bad" in rejects[0]["detail"]


def test_opml_entity_expansion_is_refused():
    data = (
        b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "x"><!ENTITY b "&a;&a;">]>'
        b'<opml><body><outline xmlUrl="https://a.example/&b;"/></body></opml>'
    )
    feeds, rejects = parse_opml(data, "evil.opml")
    assert feeds == [] and rejects[0]["error"] == "unsafe_xml"


def test_broken_opml_and_missing_list(tmp_path):
    assert parse_opml(b"<opml><body><outline", "b.opml")[1][0]["error"] == "bad_opml"
    feeds, rejects = load_feed_list(str(tmp_path / "nope.txt"))
    assert feeds == [] and rejects[0]["error"] == "unreadable"


def test_served_opml_and_text_lists(feed_server):
    feeds, rejects = load_feed_lists([feed_server.url("/feeds.opml"), feed_server.url("/feeds.txt")], LOCAL)
    assert feeds == [feed_server.url("/feed.xml"), feed_server.url("/gzip.xml")]
    errors = sorted(r["error"] for r in rejects)
    assert errors == ["bad_url", "bad_url"]  # javascript: outline, "not a url" line


def test_remote_list_cannot_name_local_files(feed_server):
    feed_server.route("/evil.txt", lambda r: Response(200, {"Content-Type": "text/plain"}, b"/etc/passwd\n"))
    feeds, rejects = load_feed_list(feed_server.url("/evil.txt"), LOCAL)
    assert feeds == [] and rejects[0]["error"] == "bad_url"


def test_remote_list_fetch_failure_is_a_fetch_reject(feed_server):
    feeds, rejects = load_feed_list(feed_server.url("/feeds.opml"), FetchConfig())
    assert feeds == [] and rejects[0]["stage"] == "fetch" and rejects[0]["error"] == "blocked_host"


def test_unparseable_urls_in_lists_are_rejects(tmp_path, feed_server):
    listing = tmp_path / "feeds.txt"
    listing.write_text("http://[::1\nhttps://example.com/a.xml\nhttp://[example]/rss\nhttps://example.com:rss/\n")
    feeds, rejects = load_feed_list(str(listing))
    assert feeds == ["https://example.com/a.xml"]
    assert [(r["input"], r["error"]) for r in rejects] == [
        (f"{listing}:1", "bad_url"),
        (f"{listing}:3", "bad_url"),
        (f"{listing}:4", "bad_url"),
    ]
    assert "Invalid IPv6 URL" in rejects[0]["detail"]

    opml = b'<opml><body><outline text="x" xmlUrl="http://[::1/feed"/></body></opml>'
    assert [r["error"] for r in parse_opml(opml, "l.opml")[1]] == ["bad_url"]

    listed = b"http://[::1\n" + feed_server.url("/feed.xml").encode()
    feed_server.route("/broken.txt", lambda r: Response(200, {"Content-Type": "text/plain"}, listed))
    feeds, rejects = load_feed_list(feed_server.url("/broken.txt"), LOCAL)
    assert feeds == [feed_server.url("/feed.xml")] and [r["error"] for r in rejects] == ["bad_url"]


def test_unparseable_list_location_is_a_fetch_reject():
    feeds, rejects = load_feed_lists(["http://[::1/feeds.txt"], LOCAL)
    assert feeds == [] and [(r["stage"], r["error"]) for r in rejects] == [("fetch", "bad_url")]


def test_served_list_answered_304_is_a_fetch_reject(feed_server):
    # A 304 to a request that sent no validators has no body: it used to crash the run.
    feed_server.route("/lists.txt", lambda r: Response(304))
    feeds, rejects = load_feed_list(feed_server.url("/lists.txt"), LOCAL)
    assert feeds == [] and [(r["stage"], r["error"], r["detail"]) for r in rejects] == [
        ("fetch", "http_error", "HTTP 304 without a body")
    ]


def test_run_with_a_served_list_answered_304_records_the_reject(tmp_path, capsys, feed_server):
    feed_server.route("/lists.txt", lambda r: Response(304))
    output = tmp_path / "out"
    code = main(
        ["run", "--feeds-file", feed_server.url("/lists.txt"), "--output", str(output), "--no-nlp"]
        + ["--allow-private-hosts"]
    )
    capsys.readouterr()
    assert code == 0
    rows = open_output(str(output)).execute("SELECT input, stage, error FROM rejects").fetchall()
    assert rows == [(feed_server.url("/lists.txt"), "fetch", "http_error")]
