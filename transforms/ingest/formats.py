"""The input formats newsbeam reads: one registry entry per format.

An entry names the format, its file extensions, how to recognise its bytes
(`sniff`), its parser, and, for a format that can be split into ranges read by
different workers, how to plan the ranges of a file and how to read one range.
Everything that picks a format (read.py, parse.py) asks this module; adding a
format is one `InputFormat` in `FORMATS` plus the module with its functions.

Parsers and range functions are named "module:function" and imported on first
use: heavy libraries (trafilatura, warcio) load only in runs that read their
format, and this module imports none of the modules it names (no import cycle).

Contracts of the named functions (see read.py and parse.py for the records):
- parser(raw: RawInput) -> list of ParsedArticle, Reject and Skipped dicts;
  raises transforms.rejects.RejectError to reject the whole input.
- plan_ranges(handle, limits: ReadLimits) -> [(start, end, first)] or None: the
  byte ranges to read (`first`: the number of the range's first record), or None
  to read the file whole (small, compressed as a whole, ...).
- read_range(path, start, end, first, now, limits) -> iterator of RawInput, Reject
  and Skipped dicts: the records of one range. Ranges are read whatever the file
  size; `limits.max_record_bytes` caps each record instead.
"""

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.metrics import NAMESPACE

SNIFF_BYTES = 2048
FEED = "feed"  # the format of --feed files and fetched feeds, whatever their name
COMPRESSED_SUFFIX = ".gz"  # `a.rss.gz` is parsed as `a.rss` (read.py decompresses it)


@dataclass(frozen=True)
class ReadLimits:
    """Size limits and range size of the readers.

    max_input_bytes caps a file read whole (and what it decompresses to): formats
    that cannot be split must fit in memory. Splittable formats are read in ranges
    of about range_bytes whatever their size, and max_record_bytes caps one record
    of them (a JSON line, a WARC record): a bigger one is a reject of its own."""

    max_input_bytes: int = 50 * 1024 * 1024
    max_record_bytes: int = 10 * 1024 * 1024  # as --max-fetch-bytes: one record is one page
    range_bytes: int = 1 << 18


@dataclass(frozen=True)
class InputFormat:
    name: str
    extensions: tuple[str, ...]  # lower case, with the dot; matched after a `.gz` is dropped
    parser: str  # "module:function", see the module docstring
    sniff: Callable[[bytes], bool] | None = None  # the first bytes are this format (tried in FORMATS order)
    plan_ranges: str | None = None  # "module:function": splittable when set
    read_range: str | None = None  # "module:function": reads one planned range
    judges_bytes: bool = False  # the parser judges binary content per record (no whole-input `binary` reject)

    @property
    def splittable(self) -> bool:
        return self.plan_ranges is not None

    def parse(self, raw: dict) -> list[dict]:
        return named_function(self.parser)(raw)


def named_function(reference: str) -> Callable:
    module, _, function = reference.partition(":")
    return getattr(importlib.import_module(module), function)


def sniff_head(data: bytes) -> bytes:
    """The first bytes, lower case, without a UTF-8 BOM or leading whitespace."""
    return data[:SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n").lower()


def looks_like_warc(data: bytes) -> bool:
    return sniff_head(data).startswith(b"warc/1.")


def looks_like_json_lines(data: bytes) -> bool:
    return sniff_head(data).startswith(b"{") and b"\n{" in data[:SNIFF_BYTES]


def looks_like_json(data: bytes) -> bool:
    return sniff_head(data).startswith((b"{", b"["))


def looks_like_feed(data: bytes) -> bool:
    head = sniff_head(data)
    return head.startswith(b"<") and any(tag in head for tag in (b"<rss", b"<feed", b"<rdf:rdf"))


def looks_like_sitemap(data: bytes) -> bool:
    """A root <urlset> or <sitemapindex>, with or without a namespace prefix."""
    return re.search(rb"<(?:[\w.-]+:)?(?:urlset|sitemapindex)[\s>/]", sniff_head(data)) is not None


def looks_like_markup(data: bytes) -> bool:
    return sniff_head(data).startswith(b"<")


# In sniffing order: the first whose sniff says yes is the format; text is the fallback.
FORMATS = (
    InputFormat(
        "warc",
        (".warc",),
        "transforms.ingest.warc:parse_warc",
        looks_like_warc,
        plan_ranges="transforms.ingest.warc:plan_warc_ranges",
        read_range="transforms.ingest.warc:read_warc_range",
        judges_bytes=True,
    ),
    InputFormat(
        "jsonl",
        (".jsonl", ".ndjson"),
        "transforms.ingest.parse:parse_jsonl",
        looks_like_json_lines,
        plan_ranges="transforms.ingest.read:plan_line_ranges",
        read_range="transforms.ingest.read:read_line_range",
        judges_bytes=True,
    ),
    InputFormat("json", (".json",), "transforms.ingest.parse:parse_json", looks_like_json),
    # Sitemaps and feeds share `.xml`: their bytes decide (format_by_extension).
    InputFormat(
        "sitemap",
        (".xml", "sitemap.xml", "sitemap_index.xml", "sitemap-index.xml"),
        "transforms.ingest.sitemaps:parse_sitemap_input",
        looks_like_sitemap,
    ),
    InputFormat(FEED, (".xml", ".rss", ".atom", ".rdf"), "transforms.ingest.parse:parse_feed_input", looks_like_feed),
    InputFormat("html", (".html", ".htm", ".xhtml"), "transforms.ingest.parse:parse_html", looks_like_markup),
    InputFormat("txt", (".txt", ".text", ".md"), "transforms.ingest.parse:parse_txt", lambda data: True),
)


def format_named(name: str) -> InputFormat:
    """The format called `name`; KeyError for an unknown one."""
    for fmt in FORMATS:
        if fmt.name == name:
            return fmt
    raise KeyError(f"no input format {name!r}")


def format_name(path: str) -> str:
    """The name whose extension picks the parser: `a.rss.gz` is parsed as `a.rss`."""
    name = path.rsplit("/", 1)[-1]
    return name[: -len(COMPRESSED_SUFFIX)] if name.lower().endswith(COMPRESSED_SUFFIX) else name


def format_by_extension(name: str, data: bytes = b"") -> InputFormat | None:
    """The format of a file name (after format_name), or None when its extension says nothing.

    Where formats share an extension (`.xml`: sitemaps and feeds), the first whose
    sniff recognises `data` wins; when none does, the one whose extension matches the
    most of the name (`news-sitemap.xml` is a sitemap; `world.xml` a feed)."""
    lowered = name.lower()
    candidates = [fmt for fmt in FORMATS if lowered.endswith(fmt.extensions)]
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    recognised = next((fmt for fmt in candidates if fmt.sniff is not None and fmt.sniff(data)), None)
    return recognised or max(
        candidates, key=lambda fmt: (max(len(e) for e in fmt.extensions if lowered.endswith(e)), fmt.name == FEED)
    )


def sniff_format(data: bytes) -> str:
    return next(fmt.name for fmt in FORMATS if fmt.sniff is not None and fmt.sniff(data))


def detect_format(raw: dict) -> str:
    """The format of a RawInput: forced (`format`), else by extension, else by sniffing."""
    if raw.get("format"):
        return raw["format"]
    by_extension = format_by_extension(raw["name"], raw["data"])
    return by_extension.name if by_extension else sniff_format(raw["data"])


# --- skipped records -------------------------------------------------------------


def make_skipped(input_name: str, counter: str) -> dict:
    """A record a reader or parser leaves out by design (a WARC request record, a 404
    response): not an input, not a reject, but counted as the metric `counter`."""
    return {"input": input_name, "skipped": counter}


def is_skipped(record: dict) -> bool:
    return "skipped" in record


class DropSkippedFn(beam.DoFn):
    """Pass records through; count each skipped one (when `counting`) and drop it."""

    def __init__(self, counting: bool = True):
        self.counting = counting

    def process(self, record):
        if not is_skipped(record):
            yield record
        elif self.counting:
            Metrics.counter(NAMESPACE, record["skipped"]).inc()


def drop_skipped(counting: bool = True):
    """counting=False for a second read of the same inputs (pipeline/graph.py): counted once."""
    return beam.ParDo(DropSkippedFn(counting))
