"""Read: input specs (paths, globs, directories, feed URLs) to RawInput records.

Listing and reading go through Beam's FileSystems, so the same code reads local
paths, gs:// or s3:// on a cluster.
"""
import gzip
import os
import zlib
from datetime import datetime, timezone

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.rejects import SplitRejects, make_reject

MAX_INPUT_BYTES = 50 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
FORMAT_FEED = "feed"
FORMAT_JSONL = "jsonl"
JSONL_EXTENSIONS = (".jsonl", ".ndjson")
# JSON-lines files are read in ranges of about this many bytes, cut at line ends,
# so that one big file still spreads over every worker (like Beam's text sources).
RANGE_BYTES = 1 << 18


def list_files(spec: str) -> list[str]:
    """All files an input spec names: a file, a directory (recursively) or a glob.

    Hidden files and folders (".name") inside a directory are skipped: they are
    editor and OS droppings, not articles.
    """
    if os.path.isdir(spec):
        found = []
        for folder, subfolders, files in os.walk(spec):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
            found.extend(os.path.join(folder, f) for f in sorted(files) if not f.startswith("."))
        return found
    if os.path.isfile(spec):
        return [spec]
    matches = FileSystems.match([spec])[0].metadata_list
    return sorted(m.path for m in matches)


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress at most `limit` bytes, so a gzip bomb cannot fill memory."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = inflater.decompress(data, limit + 1)
    if len(out) > limit:
        raise ValueError(f"decompressed size exceeds {limit} bytes")
    return out


def format_name(path: str) -> str:
    """The name whose extension picks the parser: `a.rss.gz` is parsed as `a.rss`."""
    name = path.rsplit("/", 1)[-1]
    return name[:-3] if name.lower().endswith(".gz") else name


def read_file(path: str, now: datetime | None = None, limit: int = MAX_INPUT_BYTES):
    """Yield one RawInput (docs/CONTRACTS.md) for a file, or one Reject."""
    now = now or datetime.now(timezone.utc)
    try:
        with FileSystems.open(path, compression_type="uncompressed") as handle:
            data = handle.read(limit + 1)
    except Exception as error:  # any I/O failure is a reject, never a crash
        yield make_reject(path, "read", "unreadable", f"{type(error).__name__}: {error}")
        return
    if len(data) > limit:
        yield make_reject(path, "read", "too_large", f"more than {limit} bytes")
        return
    if data[:2] == GZIP_MAGIC:
        try:
            data = gunzip(data, limit)
        except (ValueError, zlib.error, EOFError, gzip.BadGzipFile) as error:
            yield make_reject(path, "read", "bad_gzip", str(error))
            return
    yield {"input": path, "name": format_name(path), "data": data,
           "fetched_at": now, "format": None}


def as_feed(raw: dict) -> dict:
    """A file named with --feed is parsed as a feed whatever its extension."""
    return {**raw, "format": FORMAT_FEED} if "data" in raw else raw


def list_spec(spec_and_kind: tuple) -> list[tuple]:
    """(path, kind) of every file a (spec, kind) names; kind is "input" or "feed"."""
    spec, kind = spec_and_kind
    return [(path, kind) for path in list_files(spec)]


def line_ranges(data: bytes, range_bytes: int = RANGE_BYTES) -> list[tuple[int, int, int]]:
    """(start, end, first line number) of ranges of about range_bytes, cut after a newline."""
    ranges, start, line = [], 0, 0
    while start < len(data):
        cut = data.find(b"\n", start + range_bytes - 1)
        end = len(data) if cut < 0 else cut + 1
        ranges.append((start, end, line))
        line += data.count(b"\n", start, end)
        start = end
    return ranges


def file_ranges(path_and_kind: tuple, range_bytes: int = RANGE_BYTES) -> list[tuple]:
    """(path, kind, start, end, first line) to read: a whole file (start, end = 0, None),
    or for a plain UTF-8 JSON-lines file, its line ranges."""
    path, kind = path_and_kind
    whole = [(path, kind, 0, None, 0)]
    if kind == FORMAT_FEED or not format_name(path).lower().endswith(JSONL_EXTENSIONS):
        return whole
    try:
        with FileSystems.open(path, compression_type="uncompressed") as handle:
            data = handle.read(MAX_INPUT_BYTES + 1)
    except Exception:  # read_file will record why
        return whole
    if len(data) > MAX_INPUT_BYTES or data[:2] in (GZIP_MAGIC, b"\xff\xfe", b"\xfe\xff"):
        return whole  # too large (a reject), compressed or UTF-16: read whole
    return [(path, kind, start, end, line) for start, end, line in line_ranges(data, range_bytes)]


def read_range(path: str, start: int, end: int, first_line: int, now: datetime):
    """The RawInput of one line range of a JSON-lines file."""
    try:
        with FileSystems.open(path, compression_type="uncompressed") as handle:
            handle.seek(start)
            data = handle.read(end - start)
    except Exception as error:  # any I/O failure is a reject, never a crash
        yield make_reject(f"{path}#{first_line}+", "read", "unreadable", f"{type(error).__name__}: {error}")
        return
    yield {"input": path, "name": format_name(path), "data": data, "fetched_at": now,
           "format": FORMAT_JSONL, "first_line": first_line}


def read_listed(file_range: tuple, now: datetime):
    """The RawInput (or reject) of a file or line range; a --feed file is marked as a feed."""
    path, kind, start, end, first_line = file_range
    if end is not None:
        yield from read_range(path, start, end, first_line, now)
        return
    for record in read_file(path, now):
        yield as_feed(record) if kind == FORMAT_FEED else record


class ReadInputs(beam.PTransform):
    """--input specs and --feed files -> (RawInput records, read Rejects).

    One chain, no Flatten: on runners that fuse stages, file contents stay inside
    the stage that reads and parses them.
    """

    def __init__(self, inputs: list[str], feed_files: list[str], now: datetime):
        super().__init__()
        self.specs = [(spec, "input") for spec in inputs] + [(spec, FORMAT_FEED) for spec in feed_files]
        self.now = now

    def expand(self, pbegin):
        return (
            pbegin
            | "Specs" >> beam.Create(self.specs)
            | "ListFiles" >> beam.FlatMap(list_spec)
            # A file named twice is read once: the batch graph reads inputs twice and
            # matches the passes by input.
            | "OncePerFile" >> beam.Distinct()
            | "Ranges" >> beam.FlatMap(file_ranges)
            # Spread the reading over workers; the listing happened on one.
            | "SpreadRanges" >> beam.Reshuffle()
            | "ReadFile" >> beam.FlatMap(read_listed, self.now)
            | "SplitReadRejects" >> SplitRejects()
        )
