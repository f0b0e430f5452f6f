import gzip
import json
from datetime import datetime, timezone

from conftest import SEED_ARTICLE

from transforms.ingest.parse import detect_format, parse_raw, validate
from transforms.ingest.read import read_file

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
    record = {
        "title": "T",
        "body": "Body text here.",
        "url": "https://ex.com/1",
        "published": "2026-01-02T03:04:05+02:00",
        "source": "Ex",
        "authors": ["A", "B"],
    }
    article = only(parse_raw(raw("a.json", json.dumps(record).encode())))
    assert article["text"] == "Body text here." and article["authors"] == ["A", "B"]
    assert article["published_at"] == datetime(2026, 1, 2, 1, 4, 5, tzinfo=timezone.utc)


def test_jsonl_one_article_per_line_and_rejects_bad_lines():
    lines = b'{"title": "A", "text": "one"}\nnot json\n\n{"title": "B", "content": "two"}\n[1]\n'
    out = parse_raw(raw("a.jsonl", lines))
    assert [r.get("text") for r in out if "stage" not in r] == ["one", "two"]
    assert [(r["input"], r["error"]) for r in out if "stage" in r] == [
        ("/in/a.jsonl#1", "bad_json"),
        ("/in/a.jsonl#4", "bad_record"),
    ]


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


def good_line(i):
    return json.dumps({"title": f"T{i}", "text": f"Story number {i}."}).encode()


def test_one_deeply_nested_jsonl_line_costs_only_itself():
    """Was: RecursionError escaped the line loop, and the whole range (up to 256 KB,
    here 100 good records) became one `jsonl_parser_error` reject."""
    lines = [good_line(i) for i in range(100)]
    lines.insert(50, b"[" * 100_000)
    out = parse_raw({**raw("big.jsonl", b"\n".join(lines) + b"\n", fmt="jsonl"), "first_line": 1000})
    articles = [r for r in out if "stage" not in r]
    assert len(articles) == 100 and articles[50]["input"] == "/in/big.jsonl#1051"
    assert [(r["input"], r["stage"], r["error"]) for r in out if "stage" in r] == [
        ("/in/big.jsonl#1050", "parse", "too_deep")
    ]


def test_each_bad_jsonl_line_is_its_own_reject_and_neighbours_stay_articles():
    bad = {
        b'{"text": "x", "title": ' + b"9" * 5000 + b"}": "bad_json",  # int past 4300 digits
        b'{"text": "caf\xe9"}': "undecodable",
        b'{"text": "a\x00b"}': "binary",
        b'"just a string"': "bad_record",
        b"{": "bad_json",
        b'{"a": ' * 5000: "too_deep",
    }
    lines = [b"\xef\xbb\xbf" + good_line(0)]  # a BOM before the first line is fine
    for line in bad:
        lines += [line, b"  ", good_line(len(lines))]
    out = parse_raw(raw("a.jsonl", b"\r\n".join(lines)))
    assert [r["error"] for r in out if "stage" in r] == list(bad.values())
    assert [r["input"] for r in out if "stage" in r] == [f"/in/a.jsonl#{i}" for i in range(1, 3 * len(bad), 3)]
    assert [r["input"] for r in out if "stage" not in r] == [f"/in/a.jsonl#{i}" for i in range(0, 3 * len(bad) + 1, 3)]


def test_empty_or_blank_jsonl_file_is_one_reject_but_a_blank_range_is_nothing():
    assert only(parse_raw(raw("a.jsonl", b"\n \n")))["error"] == "empty_text"
    assert parse_raw({**raw("a.jsonl", b"\n\n", fmt="jsonl"), "first_line": 7}) == []


def test_utf16_jsonl_is_decoded_whole():
    data = ("\n".join([json.dumps({"text": "one"}), "", json.dumps({"text": "two"})])).encode("utf-16")
    assert [r["text"] for r in parse_raw(raw("a.jsonl", data))] == ["one", "two"]


def test_whole_json_file_too_deep_or_with_a_huge_int_is_a_reject():
    """Was: `json_parser_error` (a RecursionError or ValueError caught as a parser bug)."""
    assert only(parse_raw(raw("a.json", b"[" * 100_000)))["error"] == "too_deep"
    assert only(parse_raw(raw("a.json", b'{"text": 1' + b"0" * 5000 + b"}")))["error"] == "bad_json"
    assert only(parse_raw(raw("a.json", b"[]")))["error"] == "no_records"


def assert_valid_unicode(record):
    for value in record.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                item.encode("utf-8")  # raises on a lone surrogate


def test_lone_surrogate_escapes_become_replacement_characters():
    """Was: json.loads turned "\\ud800" into a lone surrogate that could not be
    UTF-8 encoded when the article was hashed or written: the run died."""
    from transforms.articles import finalize_article
    from transforms.dedup.near_duplicates import article_key

    record = (
        b'{"title": "T\\ud800", "text": "caf\\udce9 au lait \\ud83d\\ude00", "authors": ["A\\udfff"], '
        b'"source": "\\ud800", "url": "https://ex.com/\\ud800"}'
    )
    for name, data in (("a.json", record), ("a.jsonl", record + b"\n" + record)):
        for article in parse_raw(raw(name, data)):
            assert_valid_unicode(article)
            assert article["title"] == "T\ufffd" and article["authors"] == ["A\ufffd"]
            assert article["text"] == "caf\ufffd au lait \U0001f600"  # a real pair stays one character
            row = finalize_article(validate(article), "run1", NOW)
            assert article_key(row)["article_id"] == row["article_id"]


def test_every_parser_output_string_is_valid_unicode(monkeypatch):
    """Surrogates from any parser (here: a stubbed one) are replaced in one place."""
    from transforms.ingest import parse

    def stub(raw_input):
        return [parse.article(raw_input, text="a\ud800", title="\udc00")]

    monkeypatch.setattr(parse, "parse_txt", stub)  # the registry names parse.parse_txt
    article = only(parse_raw(raw("a.txt", b"x")))
    assert (article["text"], article["title"]) == ("a\ufffd", "\ufffd")


def test_parse_and_validate_never_raise_on_malformed_records():
    """Was: a RawInput without a name raised KeyError out of parse_raw (outside its
    try), and validate raised on a non-string text."""
    rejected = only(parse_raw({"input": "/in/x", "data": b"text"}))
    assert (rejected["stage"], rejected["error"]) == ("parse", "unknown_parser_error")
    assert validate({"input": "/in/x", "text": 5})["error"] == "empty_text"
    assert validate({"text": "no input"})["error"] == "bad_record"


def test_odd_json_field_values_do_not_cost_the_record():
    data = (
        b'{"text": "Body.", "title": ["a", {"b": null}], "published": {"x": NaN}, '
        b'"authors": [1e999, null, "B"], "source": Infinity}'
    )
    article = only(parse_raw(raw("a.json", data)))
    assert (article["text"], article["published_at"], article["authors"], article["source"]) == (
        "Body.",
        None,
        ["inf", "B"],
        "inf",
    )
