"""Issue #13 limits across modules: links urllib cannot parse are rejects of their
entry (file feeds, served feeds, page fetching, a whole run), and page text is capped."""

from datetime import datetime, timezone

from feed_server import feed_server  # noqa: F401 - pytest fixture

from pipeline.cli import main
from schemas.duckdb_views import open_output
from transforms.articles import finalize_article
from transforms.ingest import fetch as fetch_module
from transforms.ingest.feeds import MAX_ENTRY_TEXT_CHARS
from transforms.ingest.fetch import enrich_with_page, merge_page, politeness_key, raw_input_for
from transforms.ingest.http_fetch import FetchConfig, fetch
from transforms.ingest.parse import parse_raw
from transforms.rejects import is_reject

LOCAL = FetchConfig(allow_private_hosts=True, connect_timeout=2, read_timeout=2, per_host_delay=0, max_attempts=1)
NOW = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)

FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel>
<item><title>Unclosed</title><link>http://[::1</link><description>Entry one.</description></item>
<item><title>Good</title><link>https://example.com/good</link><description>Entry two.</description></item>
<item><title>Not an address</title><link>http://[example]/x</link><description>Entry three.</description></item>
</channel></rss>"""


def split(records):
    return [r for r in records if not is_reject(r)], [r for r in records if is_reject(r)]


def test_beam_free_parse_path_rejects_the_entry_and_finalizes_the_rest():
    # The feed has no title, so finalize_article names the source after the link's host:
    # that is where "http://[::1" used to raise ValueError and end the run.
    records = parse_raw({"input": "links.xml", "name": "links.xml", "data": FEED, "fetched_at": NOW, "format": None})
    articles, rejects = split(records)
    assert [(r["input"], r["stage"], r["error"]) for r in rejects] == [
        ("links.xml#0", "parse", "bad_url"),
        ("links.xml#2", "parse", "bad_url"),
    ]
    (row,) = [finalize_article(a, "run-1", NOW) for a in articles]
    assert row["source"] == "example.com" and row["canonical_url"] == "https://example.com/good"


def test_served_feed_with_broken_links(feed_server):
    url = feed_server.url("/broken-link.xml")
    result = fetch(url, None, LOCAL)
    assert result.ok
    articles, rejects = split(parse_raw(raw_input_for(url, result)))
    assert [(r["input"], r["error"]) for r in rejects] == [(f"{url}#0", "bad_url"), (f"{url}#1", "bad_url")]
    assert [a["title"] for a in articles] == ["Fine"]
    assert finalize_article(articles[0], "run-1", NOW)["source"] == "Broken links"


def test_page_fetch_of_a_broken_link_is_a_fetch_reject():
    article = {"input": "f#0", "url": "http://[::1", "text": "Feed text.", "text_source": "feed"}
    assert politeness_key(article["url"], 2)[0] == ""
    kept, reject = enrich_with_page(article, LOCAL)
    assert kept is article
    assert (reject["input"], reject["stage"], reject["error"]) == ("http://[::1", "fetch", "bad_url")


def test_page_declaring_a_broken_canonical_url_keeps_the_entry_link():
    article = {
        "input": "f#0",
        "url": "https://example.com/a",
        "text": "t",
        "authors": [],
        "published_at": None,
        "language": None,
        "title": "T",
    }
    page = {
        "text": "Page text.",
        "url": "https://[::1/a",
        "authors": [],
        "published_at": None,
        "language": None,
        "title": None,
    }
    assert merge_page(article, page)["url"] == "https://example.com/a"
    assert merge_page(article, dict(page, url="https://example.com/b"))["url"] == "https://example.com/b"


def test_page_text_over_the_cap_is_a_reject_and_the_feed_text_stays(feed_server, monkeypatch):
    huge = {
        "text": "x" * (MAX_ENTRY_TEXT_CHARS + 1),
        "url": None,
        "published_at": None,
        "authors": [],
        "language": None,
        "title": None,
    }
    monkeypatch.setattr(fetch_module, "extract_page", lambda html, url: huge)
    article = {"input": "f#0", "url": feed_server.url("/articles/1.html"), "text": "Feed text.", "text_source": "feed"}
    kept, reject = enrich_with_page(article, LOCAL)
    assert kept is article and (reject["stage"], reject["error"]) == ("fetch", "text_too_long")


def test_run_with_a_broken_link_in_a_feed_file_completes(tmp_path, capsys):
    feed_file = tmp_path / "links.xml"
    feed_file.write_bytes(FEED)
    output = tmp_path / "out"
    code = main(["run", "--feed", str(feed_file), "--output", str(output), "--no-nlp", "--no-fetch-articles"])
    printed = capsys.readouterr()
    assert code == 0, printed.err[-2000:]
    assert "inputs = articles + duplicates + rejects: ok" in printed.out + printed.err
    view = open_output(str(output))
    assert view.execute("SELECT url FROM articles").fetchall() == [("https://example.com/good",)]
    assert view.execute("SELECT stage, error, count(*) FROM rejects GROUP BY ALL").fetchall() == [
        ("parse", "bad_url", 2)
    ]
