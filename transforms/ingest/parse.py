"""Parse: RawInput bytes -> ParsedArticle dicts (or Rejects), one parser per format.

Every function here is pure and never raises on bad input: whatever cannot
become an article becomes a reject with the stage and the reason.
"""

import codecs
import json
import re

import apache_beam as beam

from transforms.ingest.feeds import parse_feed

# detect_format and sniff_format are the registry's, imported here as the parse API.
from transforms.ingest.formats import SNIFF_BYTES, detect_format, drop_skipped, format_named, sniff_format  # noqa: F401
from transforms.ingest.html import extract_html
from transforms.ingest.timeparse import parse_datetime
from transforms.rejects import RejectError, SplitRejects, is_reject, make_reject

JSON_TEXT_FIELDS = ("text", "body", "content")
BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def looks_binary(data: bytes) -> bool:
    head = data[:SNIFF_BYTES]
    has_bom = any(head.startswith(bom) for bom, _ in BOMS)
    return b"\x00" in head and not has_bom


def decode_text(data: bytes) -> str:
    """UTF-8 (or a BOM-marked UTF-16); anything else is undecodable, not guessed."""
    encoding = next((enc for bom, enc in BOMS if data.startswith(bom)), "utf-8")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise RejectError("undecodable", f"not valid {encoding}: {error}") from None


def decode_utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RejectError("undecodable", f"not valid utf-8: {error}") from None


def parse_txt(raw: dict) -> list[dict]:
    """First non-empty line is the headline, the rest is the body."""
    text = decode_text(raw["data"]).replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise RejectError("empty_text", "file has no text")
    body = "\n".join(lines[first + 1 :]).strip("\n").rstrip()
    return [article(raw, title=lines[first].strip(), text=body)]


def parse_html(raw: dict) -> list[dict]:
    """An HTML file: the one HTML path (transforms/ingest/html.py), charset as a browser finds it."""
    url = raw["input"] if raw["input"].startswith("http") else None
    page = extract_html(raw["data"], url)
    return [
        article(
            raw,
            title=page["title"],
            text=page["text"],
            url=page["url"],
            source=page["site_name"],
            authors=page["authors"],
            language=page["language"],
            published_at=page["published_at"],
        )
    ]


def split_authors(value) -> list[str]:
    if not value:
        return []
    if isinstance(value, list):
        return [name for name in map(str_or_none, value) if name]
    text = str_or_none(value) or ""
    return [a.strip() for a in text.replace(" and ", ";").split(";") if a.strip()]


def load_json(text: str):
    """json.loads, with every way it fails as a RejectError: nesting past Python's
    recursion limit raises RecursionError, an integer of more than 4300 digits
    ValueError."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise RejectError("bad_json", str(error)) from None
    except RecursionError:
        raise RejectError("too_deep", "JSON nested deeper than the parser's recursion limit") from None
    except ValueError as error:
        raise RejectError("bad_json", str(error)) from None


def parse_json(raw: dict) -> list[dict]:
    value = load_json(decode_text(raw["data"]))
    records = value if isinstance(value, list) else [value]
    if not records:
        raise RejectError("no_records", "JSON list has no records")
    return [json_record(raw, record, i, len(records) > 1) for i, record in enumerate(records)]


def parse_jsonl(raw: dict) -> list[dict]:
    """One article or one reject per non-blank line, numbered from the range's first
    line (see read.file_ranges): a bad line never costs its neighbours.

    Lines end at "\n" only: JSON strings may hold U+2028 and the like unescaped.
    UTF-8 is decoded line by line; a UTF-16 file (with a BOM) is decoded whole."""
    data = raw["data"]
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        lines = decode_text(data).split("\n")
    else:
        lines = data.split(b"\n")
    out = []
    for i, line in enumerate(lines, start=raw.get("first_line", 0)):
        out.extend(jsonl_line(raw, line, i))
    if not out and "first_line" not in raw:  # a whole file (not a range) with no line
        raise RejectError("empty_text", "no JSON lines")
    return out


def jsonl_line(raw: dict, line, number: int) -> list[dict]:
    """[] for a blank line, else [the line's ParsedArticle or Reject]."""
    name = f"{raw['input']}#{number}"
    try:
        text = decode_utf8(line) if isinstance(line, bytes) else line
        text = text.lstrip("\ufeff")  # a BOM starts the file, or a file pasted in
        if not text.strip():
            return []
        if "\x00" in text:
            raise RejectError("binary", "NUL bytes: not a JSON line")
        return [json_record(raw, load_json(text), number, True)]
    except RejectError as error:
        return [make_reject(name, "parse", error.error, str(error))]


def json_record(raw: dict, record, index: int, numbered: bool) -> dict:
    """One JSON value -> ParsedArticle, or a Reject for that record (never raises)."""
    name = f"{raw['input']}#{index}" if numbered else raw["input"]
    try:
        return json_article(raw, record, name)
    except Exception as error:  # noqa: BLE001 - odd field values of any kind cost only their record, as a reject
        return make_reject(name, "parse", "bad_record", f"{type(error).__name__}: {error}")


def json_article(raw: dict, record, name: str) -> dict:
    if not isinstance(record, dict):
        return make_reject(name, "parse", "bad_record", f"expected an object, got {type(record).__name__}")
    text = next((record[f] for f in JSON_TEXT_FIELDS if isinstance(record.get(f), str)), "")
    return article(
        raw,
        input_name=name,
        title=str_or_none(record.get("title")),
        text=text.strip(),
        url=str_or_none(record.get("url")),
        source=str_or_none(record.get("source")),
        authors=split_authors(record.get("authors") or record.get("author")),
        language=str_or_none(record.get("language")),
        published_at=parse_datetime(record.get("published") or record.get("published_at")),
    )


def str_or_none(value) -> str | None:
    """The field as text; None for null, empty, and numbers too long to print."""
    if value is None:
        return None
    try:
        return str(value).strip() or None
    except ValueError:  # int with more than 4300 digits
        return None


def parse_feed_input(raw: dict) -> list[dict]:
    articles, rejects = parse_feed(raw["data"], raw["input"], raw["fetched_at"])
    return articles + rejects


def article(
    raw: dict,
    *,
    text: str,
    title: str | None = None,
    input_name: str | None = None,
    url=None,
    source=None,
    authors=(),
    language=None,
    published_at=None,
    text_source: str = "file",
) -> dict:
    return {
        "input": input_name or raw["input"],
        "url": url,
        "source": source,
        "title": title,
        "text": text,
        "authors": list(authors),
        "language": language,
        "published_at": published_at,
        "text_source": text_source,
    }


def whole_input_name(raw: dict) -> str:
    """The name a reject of the whole RawInput gets: the file, or for a line range
    after the first, the file and the range's first line."""
    first_line = raw.get("first_line", 0)
    name = str(raw.get("input"))
    return f"{name}#{first_line}+" if first_line else name


def parse_raw(raw: dict) -> list[dict]:
    """RawInput -> ParsedArticles and Rejects. Never raises, and every string it
    returns is valid Unicode (see `valid_strings`)."""
    return [valid_strings(record) for record in parse_unchecked(raw)]


def parse_unchecked(raw: dict) -> list[dict]:
    name, fmt = whole_input_name(raw), "unknown"
    try:
        fmt = detect_format(raw)
        input_format = format_named(fmt)
        # JSON lines judge each line (jsonl_line), WARC each record: a NUL must not cost them all.
        if not input_format.judges_bytes and looks_binary(raw["data"]):
            return [make_reject(name, "parse", "binary", "NUL bytes: not a text format")]
        return input_format.parse(raw)
    except RejectError as error:
        return [make_reject(name, "parse", error.error, str(error))]
    except RecursionError:  # a parser walking a deeply nested document
        return [make_reject(name, "parse", "too_deep", f"{fmt} nested deeper than the parser's recursion limit")]
    except Exception as error:  # noqa: BLE001 - a parser bug must not end the run: it is a reject
        return [make_reject(name, "parse", f"{fmt}_parser_error", f"{type(error).__name__}: {error}")]


# Lone surrogates: JSON escapes like "\ud800" decode to them, and they cannot be
# encoded as UTF-8, so hashing or writing Parquet would fail later, far from here.
_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """The text with each lone surrogate replaced by U+FFFD (a pair is joined)."""
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def valid_strings(record: dict) -> dict:
    """The record with every string (and string in a list) made valid Unicode."""

    def valid(value):
        if isinstance(value, str):
            return valid_text(value)
        if isinstance(value, list):
            return [valid(item) for item in value]
        return value

    return {key: valid(value) for key, value in record.items()}


def validate(parsed: dict, pages_follow: bool = False) -> dict:
    """A ParsedArticle with no text is a reject; the rest (and rejects) pass unchanged.
    A sitemap entry (text from its page) passes only when its page is fetched next."""
    if is_reject(parsed):
        return parsed
    name, text = parsed.get("input"), parsed.get("text")
    if not isinstance(name, str):  # finalize_article needs it: a parser bug, recorded
        return make_reject(str(name), "validate", "bad_record", "article has no input name")
    if parsed.get("text_source") == "sitemap":
        return (
            parsed
            if pages_follow
            else make_reject(
                name,
                "validate",
                "page_not_fetched",
                f"sitemap entry {parsed.get('url')}: its page is fetched only with --fetch-articles",
            )
        )
    if not isinstance(text, str) or not text.strip():
        return make_reject(name, "validate", "empty_text", "article has no body text")
    return parsed


class Parse(beam.PTransform):
    """RawInput records -> (ParsedArticles with text, parse/validate Rejects).
    pages_follow: the articles go on to FetchArticlePages (sitemap entries may pass).
    count_skipped: count the records parsers skip (formats.make_skipped); False for a
    second read of the same inputs, so that they are counted once."""

    def __init__(self, pages_follow: bool = False, count_skipped: bool = True):
        super().__init__()
        self.pages_follow, self.count_skipped = pages_follow, count_skipped

    def expand(self, raw):
        return (
            raw
            | "ParseByFormat" >> beam.FlatMap(parse_raw)
            | "DropSkipped" >> drop_skipped(self.count_skipped)
            | "Validate" >> beam.Map(validate, self.pages_follow)
            | "SplitParseRejects" >> SplitRejects()
        )
