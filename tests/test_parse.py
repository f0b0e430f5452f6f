import gzip
import json
from datetime import datetime, timezone

from conftest import SEED_ARTICLE
from transforms.parse import detect_format, parse_raw, validate
from transforms.read import read_file

NOW = datetime(2026, 11, 28, tzinfo=timezone.utc)


def raw(name, data, fmt=None):
    return {"input": f"/in/{name}", "name": name, "data": data, "fetched_at": NOW, "format": fmt}


def only(records):
    assert len(records) == 1, records
    return records[0]


def test_seed_txt_headline_and_body():
    article = only(parse_raw(raw("seed.txt", SEED_ARTICLE.read_bytes())))
    assert article["title"] == "Russia Pulls Ambassador from US"
    assert article["text"].startswith("Moscow pulled its ambassador")
    assert "Dmitry Peskov" in article["text"] and article["text_source"] == "file"


def test_txt_skips_leading_blank_lines_and_crlf():
    article = only(parse_raw(raw("a.txt", b"\r\n\r\nHeadline\r\n\r\nBody one.\r\nBody two.\r\n")))
    assert article["title"] == "Headline" and article["text"] == "Body one.\nBody two."


def test_html_main_text_and_metadata():
    html = b"""<html><head><title>Mayor opens bridge</title>
    <link rel="canonical" href="https://example.org/news/bridge">
    <meta name="author" content="Ana Ruiz"><meta property="article:published_time" content="2026-03-02T10:00:00Z">
    </head><body><nav>Home | World | Sport</nav><article><h1>Mayor opens bridge</h1>
    <p>The mayor opened the new bridge over the river on Monday, ending three years of building work.</p>
    <p>"It links two halves of the city," she said to a crowd of several hundred residents.</p>
    </article><footer>Copyright 2026</footer></body></html>"""
    article = only(parse_raw(raw("bridge.html", html)))
    assert article["title"] == "Mayor opens bridge"
    assert "opened the new bridge" in article["text"] and "Home | World" not in article["text"]
    assert article["url"] == "https://example.org/news/bridge" and article["authors"] == ["Ana Ruiz"]
    assert article["published_at"].date().isoformat() == "2026-03-02"


def test_json_fields_and_alternatives():
    record = {"title": "T", "body": "Body text here.", "url": "https://ex.com/1",
              "published": "2026-01-02T03:04:05+02:00", "source": "Ex", "authors": ["A", "B"]}
    article = only(parse_raw(raw("a.json", json.dumps(record).encode())))
    assert article["text"] == "Body text here." and article["authors"] == ["A", "B"]
    assert article["published_at"] == datetime(2026, 1, 2, 1, 4, 5, tzinfo=timezone.utc)


def test_jsonl_one_article_per_line_and_rejects_bad_lines():
    lines = b'{"title": "A", "text": "one"}\nnot json\n\n{"title": "B", "content": "two"}\n[1]\n'
    out = parse_raw(raw("a.jsonl", lines))
    assert [r.get("text") for r in out if "stage" not in r] == ["one", "two"]
    assert [(r["input"], r["error"]) for r in out if "stage" in r] == [("/in/a.jsonl#1", "bad_json"),
                                                                       ("/in/a.jsonl#4", "bad_record")]


def test_bad_inputs_become_rejects_with_reasons():
    assert only(parse_raw(raw("a.bin", b"\x00\x01\x02garbage")))["error"] == "binary"
    assert only(parse_raw(raw("a.txt", b"caf\xe9 au lait")))["error"] == "undecodable"
    assert only(parse_raw(raw("a.txt", b"  \n\n ")))["error"] == "empty_text"
    assert only(parse_raw(raw("a.json", b"{broken")))["error"] == "bad_json"
    assert only(parse_raw(raw("a.rss", b"<rss><channel></channel></rss>")))["stage"] == "parse"


def test_headline_only_text_is_rejected_by_validation():
    article = only(parse_raw(raw("a.txt", b"Just a headline\n")))
    rejected = validate(article)
    assert rejected["stage"] == "validate" and rejected["error"] == "empty_text"


def test_format_detection_by_extension_and_sniffing():
    assert detect_format(raw("x.ATOM", b"")) == "feed"
    assert detect_format(raw("x", b"<?xml version='1.0'?><rss version='2.0'>")) == "feed"
    assert detect_format(raw("x", b"<html><body>")) == "html"
    assert detect_format(raw("x", b'{"a": 1}')) == "json"
    assert detect_format(raw("x", b"Headline\nbody")) == "txt"
    assert detect_format(raw("x.txt", b"", fmt="feed")) == "feed"


def test_gzipped_input_is_read_transparently(tmp_path):
    path = tmp_path / "story.txt.gz"
    path.write_bytes(gzip.compress(b"Headline\n\nGzipped body."))
    read = only(list(read_file(str(path), NOW)))
    assert read["name"] == "story.txt"
    assert only(parse_raw(read))["text"] == "Gzipped body."
