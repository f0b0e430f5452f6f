"""WARC input (`.warc`, `.warc.gz`: Common Crawl News, `wget --warc-file`), read with warcio.

Each `response` record with HTTP 200 and an HTML payload is one input: it becomes an
article (through the one HTML path, transforms/ingest/html.py) or a reject. Every
other record (request, metadata, warcinfo, revisit, non-HTML, redirects, other
statuses) is not an input: it is skipped and counted as `warc_skipped.<kind>`.
Redirects are not kept as aliases of their target: the target's own response record,
when the crawl has it, is the article, and its canonical URL already deduplicates.

A record is named `PATH@OFFSET`, OFFSET being where its record (its gzip member, in a
`.warc.gz`) starts in the file: the offset Common Crawl's index gives, stable
whichever worker reads it.

A `.warc.gz` (one gzip member per record, as the WARC standard recommends) is split
into byte ranges of `ReadLimits.range_bytes`, whatever its size. A range owns the
members that start inside it: its reader looks for the first member start at or after
the range's start (a gzip header whose member inflates to "WARC/1."), and reads up to
the first member start at or after its end. Nothing is decompressed in the planner,
which only needs the file size. An uncompressed `.warc` is read whole (capped by
`max_input_bytes`): its record boundaries cannot be told from payload text that looks
like a WARC header without parsing from the start.
"""

import io
import zlib

from transforms.ingest.formats import ReadLimits, format_name, make_skipped
from transforms.ingest.html import charset_from_content_type, extract_html
from transforms.ingest.timeparse import parse_datetime
from transforms.rejects import RejectError, make_reject

GZIP_MEMBER_HEADER = b"\x1f\x8b\x08"  # gzip magic and the deflate method
WARC_MAGIC = b"WARC/1."
SCAN_BLOCK_BYTES = 1 << 16
PROBE_BYTES = 4096  # compressed bytes inflated to check a candidate member start
SKIPPED = "warc_skipped"


# --- ranges (read stage) ---------------------------------------------------------


def plan_warc_ranges(handle, limits: ReadLimits):
    """Byte ranges of a .warc.gz of any size; None (read whole) for an uncompressed or empty file."""
    if handle.read(len(GZIP_MEMBER_HEADER)) != GZIP_MEMBER_HEADER:
        return None
    size = handle.seek(0, io.SEEK_END)
    # `first` is the range's start: it names a reject of the whole range (`PATH#START+`).
    return [(start, min(start + limits.range_bytes, size), start) for start in range(0, size, limits.range_bytes)]


def is_member_start(handle, position: int) -> bool:
    """Whether a gzip member holding a WARC record starts at `position`."""
    handle.seek(position)
    probe = handle.read(PROBE_BYTES)
    try:
        head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(probe, len(WARC_MAGIC))
    except zlib.error:
        return False
    return head == WARC_MAGIC


def next_member_start(handle, position: int, limit: int) -> int | None:
    """The first offset in [position, limit) where a WARC gzip member starts, or None."""
    while position < limit:
        handle.seek(position)
        block = handle.read(min(SCAN_BLOCK_BYTES, limit - position) + len(GZIP_MEMBER_HEADER) - 1)
        if not block:
            return None
        found = block.find(GZIP_MEMBER_HEADER)
        while found >= 0 and position + found < limit:
            if is_member_start(handle, position + found):
                return position + found
            found = block.find(GZIP_MEMBER_HEADER, found + 1)
        position += SCAN_BLOCK_BYTES
    return None


def read_warc_range(path, start: int, end: int, first: int, now, limits: ReadLimits):
    """The RawInput (format "warc", `first_offset` set) of the members that start in
    [start, end) of a .warc.gz; nothing when none does. A member running more than
    max_record_bytes past the range's end is cut there, and its parse says so."""
    from transforms.ingest.read import display_name, open_file  # read.py imports formats, formats names this

    shown = display_name(path)
    with open_file(path) as handle:
        size = handle.seek(0, io.SEEK_END)
        begin = start if start == 0 else next_member_start(handle, start, end)
        if begin is None:
            return
        stop = end if end >= size else next_member_start(handle, end, end + limits.max_record_bytes)
        stop = min(size, end + limits.max_record_bytes) if stop is None else stop
        handle.seek(begin)
        data = handle.read(stop - begin)
    yield {
        "input": shown,
        "name": format_name(shown),
        "data": data,
        "fetched_at": now,
        "format": "warc",
        "first_offset": begin,
        "max_record_bytes": limits.max_record_bytes,
    }


# --- records (parse stage) --------------------------------------------------------


def skip_kind(record) -> str | None:
    """Why a record is not an article (request, status_404, not_html, redirect, ...), or None."""
    if record.rec_type != "response":
        return record.rec_type or "unknown"
    if record.http_headers is None:
        return "not_http"
    status = record.http_headers.get_statuscode() or ""
    if status.startswith("3"):
        return "redirect"
    if status != "200":
        return f"status_{status or 'none'}"
    content_type = record.http_headers.get_header("Content-Type")
    if content_type is not None and "html" not in content_type.lower():
        return "not_html"
    return None


def response_article(record, name: str, limits: ReadLimits) -> dict:
    """The ParsedArticle of an HTML 200 response record; raises RejectError."""
    from transforms.ingest.parse import article

    payload = record.content_stream().read(limits.max_record_bytes + 1)
    if len(payload) > limits.max_record_bytes:
        raise RejectError("too_large", f"WARC response payload over {limits.max_record_bytes} bytes")
    url = record.rec_headers.get_header("WARC-Target-URI")
    page = extract_html(payload, url, charset_from_content_type(record.http_headers.get_header("Content-Type")))
    parsed = article(
        {"input": name},
        text=page["text"],
        title=page["title"],
        url=url,
        source=page["site_name"],
        authors=page["authors"],
        language=page["language"],
        published_at=page["published_at"],
        text_source="page",
    )
    # The page's own date wins; without one the article falls back to when it was fetched.
    return {**parsed, "fetched_at": parse_datetime(record.rec_headers.get_header("WARC-Date"))}


def record_outcome(record, name: str, limits: ReadLimits) -> dict:
    """An article, a reject or a skipped record, for one WARC record. Never raises."""
    kind = skip_kind(record)
    if kind:
        return make_skipped(name, f"{SKIPPED}.{kind}")
    try:
        return response_article(record, name, limits)
    except RejectError as error:
        return make_reject(name, "parse", error.error, str(error))
    except Exception as error:  # noqa: BLE001 - extraction on hostile HTML: any failure is this record's reject
        return make_reject(name, "parse", "warc_record_error", f"{type(error).__name__}: {error}")


def check_record(record) -> None:
    """Raise ValueError for what warcio reads leniently but is no WARC record: an ARC
    record (warcio's fallback for any text line) or a header without WARC-Type."""
    if record.format != "warc" or not record.rec_type:
        raise ValueError(f"not a WARC record (read as {record.format}, WARC-Type {record.rec_type!r})")


def parse_warc(raw: dict) -> list[dict]:
    """WARC bytes (a range's members, or a whole file) -> one outcome per record.
    The range reader passes its record cap in the RawInput (`max_record_bytes`).

    A corrupt or truncated record is a `bad_warc` reject named by its offset; the
    records before it stay, and in gzipped data reading goes on at the next member."""
    from warcio.archiveiterator import ArchiveIterator

    data, base = raw["data"], raw.get("first_offset", 0)
    limits = ReadLimits(max_record_bytes=raw.get("max_record_bytes", ReadLimits.max_record_bytes))
    out: list[dict] = []
    position: int | None = 0
    while position is not None and position < len(data):
        stream = io.BytesIO(data)
        stream.seek(position)
        records = ArchiveIterator(stream)
        try:
            for record in records:
                check_record(record)
                name = f"{raw['input']}@{base + records.offset}"
                out.append(record_outcome(record, name, limits))
                records.read_to_end(record)
                position = sum(records.member_info)
        except Exception as error:  # noqa: BLE001 - warcio's ArchiveLoadFailed, zlib.error, header errors: a reject
            at = records.offset
            out.append(
                make_reject(
                    f"{raw['input']}@{base + at}", "parse", "bad_warc", f"{type(error).__name__}: {error}"[:500]
                )
            )
            gzipped = data[at : at + len(GZIP_MEMBER_HEADER)] == GZIP_MEMBER_HEADER
            position = next_member_start(io.BytesIO(data), at + 1, len(data)) if gzipped else None
            continue
        if data[position:].strip():  # warcio ends quietly at a record cut short
            out.append(
                make_reject(
                    f"{raw['input']}@{base + position}",
                    "parse",
                    "bad_warc",
                    f"{len(data) - position} bytes at the end are not a whole WARC record "
                    f"(truncated, or a record over {limits.max_record_bytes} bytes)",
                )
            )
        break
    if not out:
        raise RejectError("empty_text", "no WARC records")
    return out
