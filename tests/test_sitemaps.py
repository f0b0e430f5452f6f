"""Sitemaps and sitemap indexes: the parser, and `newsbeam run --sitemap URL` end to end
against a real HTTP server on 127.0.0.1, with state across runs."""

import gzip
import hashlib
from datetime import datetime, timezone

from feed_server import BILLION_LAUGHS, FeedServer, Response, article_page

from pipeline.cli import main
from schemas.duckdb_views import open_output
from transforms.ingest.sitemaps import (
    SITEMAPINDEX,
    URLSET,
    entry_stub,
    lastmod_moved,
    page_decisions,
    parse_sitemap,
    parse_sitemap_input,
)

NEWS = "http://www.google.com/schemas/sitemap-news/0.9"
PRIVATE_OK = "--allow-private-hosts"  # the test server is on 127.0.0.1


def urlset(entries, news_namespace=NEWS) -> bytes:
    """entries: (loc, lastmod, news title, publication date, language)."""
    body = "".join(
        f"<url><loc>{loc}</loc>"
        + (f"<lastmod>{lastmod}</lastmod>" if lastmod else "")
        + (
            f"<news:news><news:publication><news:name>Example News</news:name>"
            f"<news:language>{language}</news:language></news:publication>"
            f"<news:publication_date>{published}</news:publication_date>"
            f"<news:title>{title}</news:title></news:news>"
            if title
            else ""
        )
        + "</url>"
        for loc, lastmod, title, published, language in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        f'xmlns:news="{news_namespace}">{body}</urlset>'
    ).encode()


def sitemap_index(children) -> bytes:
    """children: (loc, lastmod)."""
    body = "".join(f"<sitemap><loc>{loc}</loc><lastmod>{lastmod}</lastmod></sitemap>" for loc, lastmod in children)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</sitemapindex>'
    ).encode()


# --- the parser -----------------------------------------------------------------------


def test_urlset_with_news_extension():
    data = urlset(
        [
            (
                "https://example.com/a",
                "2024-05-01T09:30:00+02:00",
                "Harbour plan approved",
                "2024-05-01T08:00:00Z",
                "en-GB",
            ),
            ("https://example.com/b", None, None, None, None),
        ]
    )
    kind, entries, rejects = parse_sitemap(data, "sitemap.xml")
    assert kind == URLSET and rejects == []
    first, second = entries
    assert first["input"] == "sitemap.xml#0" and first["url"] == "https://example.com/a"
    assert first["lastmod"] == datetime(2024, 5, 1, 7, 30, tzinfo=timezone.utc)
    assert first["published_at"] == datetime(2024, 5, 1, 8, tzinfo=timezone.utc)
    assert (first["title"], first["language"], first["source"]) == ("Harbour plan approved", "en", "Example News")
    assert second["lastmod"] is None and second["title"] is None and second["published_at"] is None
    stub = entry_stub(first)
    assert stub["text"] == "" and stub["text_source"] == "sitemap" and stub["sitemap_url"] == first["url"]


def test_news_namespace_variants_are_read():
    for namespace in ("https://www.google.com/schemas/sitemap-news/0.9/", "urn:other-news"):
        data = urlset([("https://example.com/a", None, "Title", "2024-05-01", "de")], namespace)
        _, (entry,), _ = parse_sitemap(data, "s.xml")
        assert (entry["title"], entry["language"]) == ("Title", "de")
        assert entry["published_at"] == datetime(2024, 5, 1, tzinfo=timezone.utc)


def test_sitemap_index_and_gzip():
    data = gzip.compress(
        sitemap_index([("https://example.com/s1.xml", "2024-05-01"), ("https://example.com/s2.xml.gz", "2024-05-02")])
    )
    kind, entries, rejects = parse_sitemap(data, "index.xml.gz")
    assert kind == SITEMAPINDEX and rejects == []
    assert [e["url"] for e in entries] == ["https://example.com/s1.xml", "https://example.com/s2.xml.gz"]


def test_bad_documents_and_entries_are_rejects():
    cases = {
        b"": "empty_sitemap",
        b"this is no xml": "bad_sitemap",
        b"<urlset><url>": "bad_sitemap",
        b"<rss><channel/></rss>": "not_sitemap",
        BILLION_LAUGHS: "unsafe_xml",
        b"\x1f\x8b broken gzip": "bad_gzip",
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"/>': "empty_sitemap",
    }
    for data, error in cases.items():
        _, entries, (reject,) = parse_sitemap(data, "bad.xml")
        assert entries == [] and (reject["stage"], reject["error"]) == ("parse", error), data
    _, entries, rejects = parse_sitemap(
        urlset(
            [
                ("javascript:alert(1)", None, None, None, None),
                ("http://[::1", None, None, None, None),
                ("https://example.com/ok", None, None, None, None),
            ]
        ),
        "s.xml",
    )
    assert [e["url"] for e in entries] == ["https://example.com/ok"]
    assert [(r["input"], r["error"]) for r in rejects] == [("s.xml#0", "bad_url"), ("s.xml#1", "bad_url")]


def test_entity_expansion_in_a_sitemap_is_refused():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://e.com/&c;</loc></url></urlset>'
    )
    _, entries, (reject,) = parse_sitemap(bomb, "bomb.xml")
    assert entries == [] and reject["error"] == "unsafe_xml" and "Entities" in reject["detail"]


def test_an_index_file_names_its_children_as_rejects():
    records = parse_sitemap_input(
        {"input": "index.xml", "data": sitemap_index([("https://e.com/s.xml", "2024-05-01")])}
    )
    assert [(r["input"], r["error"]) for r in records] == [("index.xml#0", "index_file")]


def test_page_decisions():
    may, june = datetime(2024, 5, 1, tzinfo=timezone.utc), datetime(2024, 6, 1, tzinfo=timezone.utc)
    assert lastmod_moved(june, [may]) and not lastmod_moved(may, [may, june]) and not lastmod_moved(None, [may])
    assert lastmod_moved(may, [None])

    def decide(stubs, stored):
        out = list(page_decisions(("u", {"stubs": stubs, "stored": [{"lastmod": m} for m in stored]})))
        return [o["input"] if isinstance(o, dict) else (o.value["input"], o.value["decision"]) for o in out]

    a = {"input": "s#0", "sitemap_lastmod": june}
    b = {"input": "t#3", "sitemap_lastmod": june}
    assert decide([b, a], []) == ["s#0", ("t#3", "repeated")]
    assert decide([a], [june]) == [("s#0", "unchanged")]
    assert decide([a], [may]) == ["s#0"]


# --- end to end -----------------------------------------------------------------------

STORIES = {
    "a1": [
        "The river authority opened the new flood barrier on Monday after four years of construction "
        "and a budget that grew by a third since the first plans were drawn up in 2019.",
        "Engineers say the barrier can hold back a surge two metres higher than the record flood of 1953, "
        "and that it will be tested twice a year with the gates fully closed.",
    ],
    "a2": [
        "A small bakery in the old town won the national bread prize this weekend with a sourdough "
        "made from a starter the owner's grandmother kept alive through the war.",
        "The judges praised the crust and the open crumb, and the owner said she would keep her prices "
        "the same despite the queue that formed outside the shop on Sunday morning.",
    ],
    "b1": [
        "The regional orchestra announced a season of free concerts in village halls, paid for by a "
        "legacy from a retired music teacher who left her house to the ensemble.",
        "Each concert will pair a classical work with music written by pupils of the local schools, "
        "who will rehearse with the players for a month before the first performance.",
    ],
}
NEWS_TITLES = {"a1": "Flood barrier opens", "a2": "Bakery wins bread prize", "b1": "Free concerts for villages"}


class SitemapSite:
    """A news site on a FeedServer: an index, a plain and a gzipped news sitemap, three
    article pages. Documents answer conditional GETs by the ETag of their body."""

    def __init__(self, server: FeedServer):
        self.server, self.base = server, server.url("")
        self.lastmods = {"a1": "2024-05-01T10:00:00Z", "a2": "2024-05-01T11:00:00Z", "b1": "2024-05-02T09:00:00Z"}
        server.route("/sitemap_index.xml", self.document(self.index, "application/xml"))
        server.route("/sitemaps/news-1.xml", self.document(self.news_1, "application/xml"))
        server.route(
            "/sitemaps/news-2.xml.gz",
            self.document(lambda: gzip.compress(self.news_2(), mtime=0), "application/x-gzip"),
        )
        for key, paragraphs in STORIES.items():
            page = article_page(
                f"{NEWS_TITLES[key]} | Example News",
                paragraphs,
                f"{self.base}/articles/{key}.html",
                "Jane Reporter",
                "2024-05-01",
            )
            server.route(
                f"/articles/{key}.html",
                lambda r, page=page: Response(200, {"Content-Type": "text/html; charset=utf-8"}, page),
            )

    def entry(self, key):
        return (f"{self.base}/articles/{key}.html", self.lastmods[key], NEWS_TITLES[key], "2024-05-01T06:00:00Z", "en")

    def news_1(self):
        return urlset([self.entry("a1"), self.entry("a2")])

    def news_2(self):  # the news namespace with https: a variant sites use
        return urlset(
            [self.entry("b1"), ("javascript:alert(1)", None, None, None, None)],
            "https://www.google.com/schemas/sitemap-news/0.9",
        )

    def index(self):
        return sitemap_index(
            [
                (f"{self.base}/sitemaps/news-1.xml", max(self.lastmods["a1"], self.lastmods["a2"])),
                (f"{self.base}/sitemaps/news-2.xml.gz", self.lastmods["b1"]),
            ]
        )

    @staticmethod
    def document(body_of, content_type):
        def handler(request):
            body = body_of()
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if request.headers.get("if-none-match") == etag:
                return Response(304, {"ETag": etag})
            return Response(200, {"Content-Type": content_type, "ETag": etag}, body)

        return handler

    def page_requests(self) -> dict:
        return {key: len(self.server.requests_to(f"/articles/{key}.html")) for key in STORIES}


def run(capsys, *args):
    code = main(["run", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def rows(output, sql):
    return open_output(str(output)).execute(sql).fetchall()


def test_sitemap_index_end_to_end_with_state_across_runs(tmp_path, capsys):
    output = tmp_path / "out"
    with FeedServer() as server:
        site = SitemapSite(server)
        args = ("--sitemap", server.url("/sitemap_index.xml"), "--output", str(output), PRIVATE_OK)
        code, printed = run(capsys, *args)  # the defaults: NLP on
        assert code == 0, printed
        assert "sitemap_entries (fetched=3)" in printed and ": ok]" in printed
        assert "inputs=4 articles=3 duplicates=0 rejects=1" in printed  # the javascript: entry
        found = rows(
            output, "SELECT input, url, title, language, published_at, text_source, text FROM articles ORDER BY url"
        )
        assert [(r[1], r[2], r[3], r[5]) for r in found] == [
            (f"{site.base}/articles/{key}.html", NEWS_TITLES[key], "en", "page") for key in ("a1", "a2", "b1")
        ]
        assert all(r[4] == datetime(2024, 5, 1, 6, tzinfo=timezone.utc) for r in found)
        for row, key in zip(found, ("a1", "a2", "b1")):
            assert STORIES[key][0] in row[6]
        assert found[0][0] == f"{site.base}/sitemaps/news-1.xml#0"
        assert rows(output, "SELECT input, stage, error FROM rejects") == [
            (f"{site.base}/sitemaps/news-2.xml.gz#1", "parse", "bad_url")
        ]
        assert rows(output, "SELECT count(*) FROM entities")[0][0] > 0
        assert site.page_requests() == {"a1": 1, "a2": 1, "b1": 1}

        # Nothing changed: the index answers 304 and no page is fetched again.
        code, printed = run(capsys, *args, "--no-nlp")
        assert code == 0 and "inputs=0 " in printed and ": ok]" in printed, printed
        assert site.page_requests() == {"a1": 1, "a2": 1, "b1": 1}
        assert server.requests_to("/sitemap_index.xml")[-1].headers.get("if-none-match")

        # a1's <lastmod> moves (and with it the index's for news-1): only a1 is fetched again.
        site.lastmods["a1"] = "2024-05-03T12:00:00Z"
        code, printed = run(capsys, *args, "--no-nlp")
        assert code == 0 and "sitemap_entries (fetched=1, unchanged=1)" in printed, printed
        assert "inputs=1 articles=0 duplicates=1" in printed and ": ok]" in printed  # same text: stored
        assert site.page_requests() == {"a1": 2, "a2": 1, "b1": 1}
        # news-2 was not asked in the second run (index unchanged), and answered 304 in the third.
        second_sitemap = server.requests_to("/sitemaps/news-2.xml.gz")
        assert len(second_sitemap) == 2 and second_sitemap[-1].headers.get("if-none-match")
    assert rows(output, "SELECT url, count(*) FROM sitemap_pages GROUP BY 1 ORDER BY 1") == [
        (f"{site.base}/articles/a1.html", 2),
        (f"{site.base}/articles/a2.html", 1),
        (f"{site.base}/articles/b1.html", 1),
    ]


def test_failed_pages_are_the_entries_rejects(tmp_path, capsys):
    output = tmp_path / "out"
    with FeedServer() as server:
        base = server.url("")
        server.route(
            "/sitemap.xml",
            lambda r: Response(
                200,
                {"Content-Type": "text/xml"},
                urlset(
                    [
                        (f"{base}/missing.html", None, "Gone", "2024-05-01", "en"),
                        (f"{base}/not-html", None, "Data", "2024-05-01", "en"),
                    ]
                ),
            ),
        )
        server.route("/not-html", lambda r: Response(200, {"Content-Type": "application/pdf"}, b"%PDF-1.4"))
        code, printed = run(
            capsys, "--sitemap", server.url("/sitemap.xml"), "--output", str(output), "--no-nlp", PRIVATE_OK
        )
    assert code == 0 and "inputs=2 articles=0 duplicates=0 rejects=2" in printed and ": ok]" in printed, printed
    assert rows(output, "SELECT input, stage, error FROM rejects ORDER BY input") == [
        (f"{base}/sitemap.xml#0", "fetch", "http_error"),
        (f"{base}/sitemap.xml#1", "fetch", "not_html"),
    ]
    assert rows(output, "SELECT count(*) FROM sitemap_pages") == [(0,)]  # tried again next time


def test_not_a_sitemap_url_and_usage_errors(tmp_path, capsys):
    output = tmp_path / "out"
    with FeedServer() as server:
        server.route("/page.html", lambda r: Response(200, {"Content-Type": "text/html"}, b"<html><p>hi</p></html>"))
        code, printed = run(
            capsys, "--sitemap", server.url("/page.html"), "--output", str(output), "--no-nlp", PRIVATE_OK
        )
    assert code == 0 and "inputs=1 articles=0 duplicates=0 rejects=1" in printed, printed
    assert rows(output, "SELECT stage, error FROM rejects") == [("parse", "not_sitemap")]
    assert run(capsys, "--sitemap", "sitemap.xml", "--output", str(output))[0] == 2
    code, printed = run(capsys, "--sitemap", "http://example.com/s.xml", "--no-fetch-articles", "--output", str(output))
    assert code == 2 and "--no-fetch-articles" in printed


def test_a_sitemap_file_as_input(tmp_path, capsys):
    with FeedServer() as server:
        site = SitemapSite(server)
        sitemap_file = tmp_path / "in" / "news-sitemap.xml.gz"
        sitemap_file.parent.mkdir()
        sitemap_file.write_bytes(gzip.compress(site.news_1()))
        # Pages of file entries are fetched with --fetch-articles only (as for feed files):
        # without it, each entry is a reject that says so.
        output = tmp_path / "plain"
        code, printed = run(capsys, "--input", str(sitemap_file), "--output", str(output), "--no-nlp", PRIVATE_OK)
        assert code == 0 and "inputs=2 articles=0 duplicates=0 rejects=2" in printed and ": ok]" in printed, printed
        assert rows(output, "SELECT input, stage, error FROM rejects ORDER BY input") == [
            (f"{sitemap_file}#{n}", "validate", "page_not_fetched") for n in (0, 1)
        ]
        assert site.page_requests() == {"a1": 0, "a2": 0, "b1": 0}

        output = tmp_path / "fetched"
        code, printed = run(
            capsys, "--input", str(sitemap_file), "--output", str(output), "--no-nlp", "--fetch-articles", PRIVATE_OK
        )
        assert code == 0 and "inputs=2 articles=2 duplicates=0 rejects=0" in printed and ": ok]" in printed, printed
        assert rows(output, "SELECT input, title, text_source FROM articles ORDER BY input") == [
            (f"{sitemap_file}#0", NEWS_TITLES["a1"], "page"),
            (f"{sitemap_file}#1", NEWS_TITLES["a2"], "page"),
        ]
        assert site.page_requests() == {"a1": 1, "a2": 1, "b1": 0}
