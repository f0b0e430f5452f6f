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


def read_listed(path_and_kind: tuple, now: datetime):
    """read_file of a listed file; a --feed file is marked to be parsed as a feed."""
    path, kind = path_and_kind
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
            # A file named twice is read once (the batch graph reads inputs twice and
            # matches the passes by input). The shuffle also spreads the reading over
            # workers; the listing happened on one.
            | "OncePerFile" >> beam.Distinct()
            | "ReadFile" >> beam.FlatMap(read_listed, self.now)
            | "SplitReadRejects" >> SplitRejects()
        )
