"""Property-based fuzzing of the Beam-free path every input file takes:

    bytes on disk -> list_files -> read_file -> parse_raw -> validate
                  -> finalize_article -> near_duplicates.article_key

Whatever the bytes and the file name, nothing raises, and every output is exactly
one of: an article (with a key row, valid UTF-8 strings and a row pyarrow accepts
under schemas.tables.ARTICLES) or a reject with a stage and an error (#13).
"""

import codecs
import gzip
import json
import os
import shutil
import tempfile
from datetime import datetime, timezone

import pyarrow as pa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from schemas.tables import ARTICLES
from transforms.articles import finalize_article
from transforms.dedup.near_duplicates import article_key
from transforms.ingest.parse import parse_raw, validate
from transforms.ingest.read import list_files, read_file
from transforms.rejects import is_reject

NOW = datetime(2026, 11, 28, tzinfo=timezone.utc)
FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
EXTENSIONS = [".txt", ".html", ".json", ".jsonl", ".rss", ".xml", ".md", ".ndjson", ".dat", ""]


# --- running one file through the pipeline's functions -----------------------------


def all_strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from all_strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from all_strings(item)


def check_reject(record: dict) -> None:
    assert isinstance(record["stage"], str) and record["stage"], record
    assert isinstance(record["error"], str) and record["error"], record
    assert isinstance(record["input"], str) and record["input"], record
    for text in all_strings(record):
        text.encode("utf-8")


def check_article(parsed: dict) -> dict:
    """finalize_article and article_key on a validated article; the row is returned."""
    for text in all_strings(parsed):
        text.encode("utf-8")
    row = finalize_article(parsed, "run1", NOW)
    key = article_key(row)
    assert key["article_id"] == row["article_id"] and isinstance(key["minhash"], bytes)
    for text in all_strings(row):
        text.encode("utf-8")
    pa.Table.from_pylist([{c: row[c] for c in ARTICLES.column_names}], schema=ARTICLES.schema)
    return row


def outcomes(path) -> list[tuple[str, dict]]:
    """("article", row) or ("reject", reject) for everything one listed file gives."""
    out = []
    for raw in read_file(path, NOW):
        if is_reject(raw):
            check_reject(raw)
            out.append(("reject", raw))
            continue
        assert raw["input"].encode("utf-8") and raw["name"].encode("utf-8")
        for parsed in parse_raw(raw):
            checked = validate(parsed)
            if is_reject(checked):
                check_reject(checked)
                out.append(("reject", checked))
            else:
                out.append(("article", check_article(checked)))
    return out


def run_file(name: bytes, data: bytes) -> list[tuple[str, dict]]:
    """Write `data` as a file called `name` in a fresh folder, list the folder, and run
    each listed file through; a hidden name is skipped by the listing, by design."""
    folder = tempfile.mkdtemp(prefix="fuzz")
    try:
        with open(os.path.join(os.fsencode(folder), name), "wb") as handle:
            handle.write(data)
        paths, rejects = list_files(folder)
        assert rejects == [] and len(paths) == (0 if name.startswith(b".") else 1), (paths, rejects)
        out = [outcome for path in paths for outcome in outcomes(path)]
        for kind, record in out:  # seen with pytest --hypothesis-show-statistics
            event(kind if kind == "article" else f"reject {record['stage']}/{record['error']}")
        return out
    finally:
        shutil.rmtree(folder)


# --- strategies --------------------------------------------------------------------


def json_escape_surrogates(text: str) -> str:
    return json.dumps(text)  # json.dumps writes a lone surrogate as a \udXXX escape


lone_surrogates = st.sampled_from(["\ud800", "\udfff", "\udce9", "\ud83d", "\ude00"])
hostile_text = st.one_of(
    st.text(max_size=200),
    st.lists(
        st.one_of(
            st.text(max_size=20),
            lone_surrogates,
            st.sampled_from(["\x00", "\ufeff", "\u2028", "\r", "\r\n", "\n", "\x85", " "]),
        ),
        max_size=30,
    ).map("".join),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
    st.sampled_from([10**30, -(10**30), 1e308, 4102444800, -1, 0]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
article_records = st.fixed_dictionaries(
    {},
    optional={
        "title": json_values,
        "text": st.one_of(hostile_text, json_values),
        "body": json_values,
        "content": hostile_text,
        "url": st.one_of(
            hostile_text,
            st.sampled_from(
                ["https://ex.com/a?utm_source=x", "http://[", "http://ex.com:99999/", "https://\ud800.com/"]
            ),
        ),
        "published": st.one_of(
            json_values,
            st.sampled_from(
                ["2026-01-02T03:04:05Z", "0001-01-01", "9999-12-31T23:59:59-01:00", "Mon, 02 Jan 2026 10:00:00 +0000"]
            ),
        ),
        "published_at": json_values,
        "source": json_values,
        "authors": json_values,
        "author": json_values,
        "language": json_values,
    },
)


def dump_json(value) -> str:
    return json.dumps(value, allow_nan=True)  # NaN and Infinity, which json.loads takes back


# Lines (no "\n") that are hard on a JSON-lines parser.
@st.composite
def hostile_json_lines(draw) -> bytes:
    kind = draw(st.sampled_from(["record", "value", "deep", "huge", "nan", "surrogate", "bytes", "blank"]))
    if kind == "record":
        return dump_json(draw(article_records)).encode("utf-8", "surrogatepass")
    if kind == "value":
        return dump_json(draw(json_values)).encode("utf-8", "surrogatepass")
    if kind == "deep":
        depth = draw(st.sampled_from([10, 900, 1100, 5000, 100_000]))
        opener = draw(st.sampled_from(["[", '{"a":', '{"text": "x", "title":']))
        return (opener * depth).encode()
    if kind == "huge":
        return b'{"text": "story", "published": ' + b"9" * draw(st.integers(4000, 6000)) + b"}"
    if kind == "nan":
        return draw(
            st.sampled_from(
                [b'{"text": "story", "published": NaN, "title": Infinity}', b'{"text": NaN}', b"-Infinity", b"NaN"]
            )
        )
    if kind == "surrogate":
        title = json_escape_surrogates(draw(hostile_text))
        text = json_escape_surrogates(draw(hostile_text))
        return f'{{"title": {title}, "text": {text}}}'.encode()
    if kind == "bytes":
        return draw(st.binary(max_size=80)).replace(b"\n", b"")
    return draw(st.sampled_from([b"", b"   ", b"\t\r", b"\xef\xbb\xbf", b"\xe2\x80\xa8"]))


def encoded(text: str) -> st.SearchStrategy:
    """UTF-8 (with or without a BOM) or UTF-16 with a BOM, as the readers accept."""
    return st.sampled_from(
        [
            text.encode("utf-8", "surrogatepass"),
            codecs.BOM_UTF8 + text.encode("utf-8", "surrogatepass"),
            text.encode("utf-16", "surrogatepass"),
            text.encode("utf-16-be", "surrogatepass"),  # no BOM: NULs, a binary reject
        ]
    )


@st.composite
def hostile_documents(draw) -> bytes:
    """Structured content of every format, then encoded in a hostile way."""
    kind = draw(st.sampled_from(["json", "jsonl", "feed", "html", "text"]))
    if kind == "json":
        text = dump_json(draw(st.one_of(article_records, st.lists(article_records, max_size=4), json_values)))
    elif kind == "jsonl":
        text = "\n".join(
            line.decode("utf-8", "surrogateescape") for line in draw(st.lists(hostile_json_lines(), max_size=6))
        )
    elif kind == "feed":
        items = "".join(
            f"<item><title>{draw(hostile_text)}</title><description>{draw(hostile_text)}"
            f"</description><pubDate>{draw(hostile_text)}</pubDate></item>"
            for _ in range(draw(st.integers(0, 3)))
        )
        text = (
            f"<?xml version='1.0'?><rss version='2.0'><channel><title>{draw(hostile_text)}</title>"
            f"{items}</channel></rss>"
        )
        if draw(st.booleans()):
            text = text.replace("<item>", "<item>" + "<x>" * draw(st.integers(1, 3000)), 1)
    elif kind == "html":
        depth = draw(st.integers(0, 3000))
        text = (
            f"<html><head><title>{draw(hostile_text)}</title></head><body>"
            + "<div>" * depth
            + f"<p>{draw(hostile_text)}</p><p>&#xD800; &#0; {draw(hostile_text)}</p>"
            + "</div>" * depth
        )
    else:
        text = draw(hostile_text)
    newline = draw(st.sampled_from(["\n", "\r\n", "\r", "\u2028"]))
    if kind != "jsonl":
        text = text.replace("\n", newline)
    return draw(encoded(text))


file_bytes = st.one_of(st.binary(max_size=400), hostile_documents())
names = st.builds(
    lambda stem, ext: stem + ext.encode(),
    st.binary(min_size=1, max_size=30).filter(lambda b: b"/" not in b and b"\x00" not in b and b not in (b".", b"..")),
    st.sampled_from(EXTENSIONS),
)


# --- properties --------------------------------------------------------------------


@FUZZ
@given(ext=st.sampled_from(EXTENSIONS), data=file_bytes, gzipped=st.booleans())
def test_any_bytes_in_any_format_end_as_articles_or_rejects(ext, data, gzipped):
    name = b"story" + ext.encode() + (b".gz" if gzipped else b"")
    out = run_file(name, gzip.compress(data) if gzipped else data)
    assert out, "every input gives at least one article or reject"


@FUZZ
@given(name=names, data=st.one_of(st.just(b"Headline\n\nBody text."), file_bytes))
def test_any_file_name_ends_as_articles_or_rejects_named_in_utf8(name, data):
    out = run_file(name, data)
    assert out or name.startswith(b".")
    for _, record in out:
        assert record["input"].encode("utf-8")


def non_blank(line: bytes) -> bool:
    """A JSON line counts unless it decodes as UTF-8 to whitespace (after a BOM)."""
    try:
        return bool(line.decode("utf-8").lstrip("\ufeff").strip())
    except UnicodeDecodeError:
        return True


@FUZZ
@given(
    lines=st.lists(hostile_json_lines(), max_size=12), crlf=st.booleans(), ext=st.sampled_from([".jsonl", ".ndjson"])
)
def test_json_lines_give_one_article_or_reject_per_non_blank_line(lines, crlf, ext):
    data = (b"\r\n" if crlf else b"\n").join(lines)
    out = run_file(b"lines" + ext.encode(), data)
    expected = sum(non_blank(line) for line in data.split(b"\n"))
    if expected == 0:  # a file with no line at all is one reject, not nothing
        assert [(kind, r["error"]) for kind, r in out] == [("reject", "empty_text")]
    else:
        assert len(out) == expected, (expected, out)
        numbers = [int(r["input"].rsplit("#", 1)[1]) for _, r in out]
        assert numbers == sorted(set(numbers))  # each its own line number, in order


@FUZZ
@given(records=st.lists(article_records, min_size=2, max_size=6))
def test_json_list_gives_one_article_or_reject_per_record(records):
    out = run_file(b"list.json", dump_json(records).encode("utf-8", "surrogatepass"))
    assert [r["input"].rsplit("#", 1)[1] for _, r in out] == [str(i) for i in range(len(records))]


def test_the_properties_can_fail():
    """The checks themselves reject what #13 was about (so a green run means something)."""
    import pytest

    with pytest.raises(UnicodeEncodeError):
        check_reject({"input": "a\ud800", "stage": "parse", "error": "x", "detail": None})
    with pytest.raises(AssertionError):
        check_reject({"input": "a", "stage": "", "error": "x", "detail": None})
    with pytest.raises(UnicodeEncodeError):
        check_article(
            {
                "input": "/a",
                "url": None,
                "source": None,
                "title": None,
                "text": "t\ud800",
                "authors": [],
                "language": None,
                "published_at": None,
                "text_source": "file",
            }
        )
