"""Read: input specs (paths, globs, directories, feed URLs) to RawInput records.

Listing and reading go through Beam's FileSystems, so the same code reads local
paths, gs:// or s3:// on a cluster.
"""

import gzip
import io
import os
import re
import stat
import zlib
from datetime import datetime, timezone

import apache_beam as beam
from apache_beam.io.filesystem import FileSystem
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.ingest.formats import (
    FEED,
    ReadLimits,
    format_by_extension,
    format_name,
    format_named,
    named_function,
    sniff_format,
)
from transforms.metrics import NAMESPACE
from transforms.rejects import SplitRejects, make_reject

MAX_INPUT_BYTES = ReadLimits.max_input_bytes
GZIP_MAGIC = b"\x1f\x8b"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
SCAN_CHUNK_BYTES = 1 << 20
GLOB_CHARS = "*?["


def list_files(spec) -> tuple[list, list[dict]]:
    """(files, rejects) of an input spec: a file, a directory (recursively) or a glob.

    Files are portable paths (see `portable_path`). Hidden files and folders
    (".name") inside a directory are skipped: they are editor and OS droppings,
    not articles. A folder that cannot be listed is a reject, not a silent gap.
    """
    spec = real_path(spec)
    rejects: list[dict] = []
    if is_remote(spec):
        paths = remote_matches(spec, rejects) if has_glob(spec) else [spec]
    elif os.path.isdir(spec):
        paths = list(walk_files(spec, rejects, skip_hidden=True))
    elif os.path.isfile(spec) or not has_glob(spec):
        paths = [spec]  # a missing file is read_file's reject, with the reason
    else:
        paths = local_glob(spec, rejects)
    return [portable_path(path) for path in paths], rejects


def is_remote(spec: str) -> bool:
    return "://" in spec


def has_glob(spec: str) -> bool:
    return any(c in spec for c in GLOB_CHARS)


def remote_matches(pattern: str, rejects: list) -> list[str]:
    try:
        return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except Exception as error:  # noqa: BLE001 - any failed listing is a reject for the spec, never a crash
        rejects.append(
            make_reject(display_name(pattern), "read", "unreadable", f"cannot list: {type(error).__name__}: {error}")
        )
        return []


def local_glob(pattern: str, rejects: list) -> list[str]:
    """Local files matching a glob with Beam's semantics (FileSystem.translate_pattern:
    `*` stays within a folder, `**` crosses folders), walked with `walk_files`:
    Beam's own local match ignores listing errors."""
    matches = re.compile(FileSystem.translate_pattern(pattern)).match
    root = os.path.dirname(re.split(r"[\[*?]", pattern, maxsplit=1)[0])  # the part before the first wildcard
    return [path for path in walk_files(root, rejects, skip_hidden=False) if matches(path)]


def walk_files(top: str, rejects: list, skip_hidden: bool):
    """Files under `top` in os.walk's top-down order (sorted), that never enters a
    folder twice (by st_dev, st_ino: bind mounts and loops) nor follows a symlinked
    folder, and records each folder it cannot list as a reject. `top` "" is the
    current folder, and paths stay relative to it."""
    visited, stack = set(), [top]
    while stack:
        folder = stack.pop()
        try:
            info = os.stat(folder or ".")
            if (info.st_dev, info.st_ino) in visited:
                continue
            visited.add((info.st_dev, info.st_ino))
            with os.scandir(folder or ".") as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            rejects.append(
                make_reject(
                    display_name(folder or "."),
                    "read",
                    "unreadable",
                    f"cannot list folder: {type(error).__name__}: {error}",
                )
            )
            continue
        subfolders = []
        for entry in entries:
            if skip_hidden and entry.name.startswith("."):
                continue
            path = os.path.join(folder, entry.name) if folder else entry.name
            if is_folder(entry):
                subfolders.append(path)
            elif not is_symlinked_folder(entry):  # os.walk neither lists nor enters those
                yield path
        stack.extend(reversed(subfolders))


def is_folder(entry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False  # read_file will say what is wrong with it


def is_symlinked_folder(entry) -> bool:
    try:
        return entry.is_symlink() and entry.is_dir()
    except OSError:
        return False


def portable_path(path):
    """The path as it can cross Beam's coders (which encode str as UTF-8): the str
    when it is valid UTF-8, else its bytes as the OS has them (os.fsencode)."""
    if isinstance(path, bytes) or is_utf8(path):
        return path
    try:
        return os.fsencode(path)
    except UnicodeEncodeError:  # surrogates that are not escaped bytes: no such file
        return path.encode("utf-8", "surrogatepass")


def real_path(path) -> str:
    """The path to open: bytes back to the str the OS functions take."""
    return os.fsdecode(path) if isinstance(path, bytes) else path


def display_name(path) -> str:
    """The path as valid UTF-8 text, for `input` and `name`: bytes that are not
    UTF-8 show as \\xNN (visible, and never fatal to hashing or Parquet)."""
    if isinstance(path, str) and is_utf8(path):
        return path
    return portable_path(path).decode("utf-8", "backslashreplace")


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress at most `limit` bytes, so a gzip bomb cannot fill memory.

    Every member of a multi-member file (a `.warc.gz`, concatenated `.gz` files), as
    gzip itself reads it; a stream that ends inside a member is an error, not the
    part read so far."""
    out, rest = bytearray(), data
    while rest:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out += inflater.decompress(rest, limit + 1 - len(out))
        if len(out) > limit:
            raise ValueError(f"decompressed size exceeds {limit} bytes")
        if not inflater.eof:
            raise EOFError("the compressed data ends inside a gzip member (truncated file)")
        rest = inflater.unused_data
        if rest[:2] != GZIP_MAGIC:
            if rest.strip(b"\0"):  # zero padding after the last member is allowed, as in gzip
                raise gzip.BadGzipFile("data after the last gzip member is not gzip")
            break
    return bytes(out)


def read_file(path, now: datetime | None = None, limit: int = MAX_INPUT_BYTES):
    """Yield one RawInput (docs/CONTRACTS.md) for a file, or one Reject.

    `path` is a listed path (str, or bytes for a name that is not UTF-8); the
    RawInput names it with `display_name`."""
    now = now or datetime.now(timezone.utc)
    shown, real = display_name(path), real_path(path)
    not_a_file = special_file_reason(real)
    if not_a_file:  # a FIFO or device would block or never end
        yield make_reject(shown, "read", "unreadable", not_a_file)
        return
    try:
        with open_file(path) as handle:
            data = handle.read(limit + 1)
    except Exception as error:  # noqa: BLE001 - any I/O failure of a user's file is a reject, never a crash
        yield make_reject(shown, "read", "unreadable", f"{type(error).__name__}: {error}")
        return
    if len(data) > limit:
        yield make_reject(shown, "read", "too_large", f"more than {limit} bytes")
        return
    if data[:2] == GZIP_MAGIC:
        try:
            data = gunzip(data, limit)
        except (ValueError, zlib.error, EOFError, gzip.BadGzipFile) as error:
            yield make_reject(shown, "read", "bad_gzip", str(error))
            return
    yield {"input": shown, "name": format_name(shown), "data": data, "fetched_at": now, "format": None}


def open_file(path):
    """A listed path opened for reading bytes as they are (no decompression), through Beam's FileSystems."""
    return FileSystems.open(real_path(path), compression_type="uncompressed")


def special_file_reason(path: str) -> str | None:
    """Why a local path is not a regular file (FIFO, socket, device, folder), or None."""
    if is_remote(path):
        return None
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # opening it says why
    if stat.S_ISREG(mode):
        return None
    return "a folder" if stat.S_ISDIR(mode) else "not a regular file"


def as_feed(raw: dict) -> dict:
    """A file named with --feed is parsed as a feed whatever its extension."""
    return {**raw, "format": FEED} if "data" in raw else raw


def list_spec(spec_and_kind: tuple) -> list:
    """(path, kind) of every file a (spec, kind) names, kind "input" or "feed", and
    a Reject for each folder (or the spec) that could not be listed."""
    spec, kind = spec_and_kind
    try:
        paths, rejects = list_files(spec)
    except Exception as error:  # noqa: BLE001 - a listing bug must not end the run: it is a reject
        return [make_reject(display_name(spec), "read", "unreadable", f"cannot list: {type(error).__name__}: {error}")]
    return [(path, kind) for path in paths] + rejects


def line_ranges(data: bytes, range_bytes: int = ReadLimits.range_bytes) -> list[tuple[int, int, int]]:
    """(start, end, first line number) of ranges of about range_bytes, cut after a newline."""
    return stream_line_ranges(io.BytesIO(data), range_bytes)


def stream_line_ranges(handle, range_bytes: int) -> list[tuple[int, int, int]]:
    """line_ranges of a file, read in chunks: memory stays flat whatever its size."""
    ranges, start, line, offset, newlines = [], 0, 0, 0, 0
    while chunk := handle.read(SCAN_CHUNK_BYTES):
        scanned = 0  # newlines before this index of the chunk are counted in `newlines`
        while True:
            want = max(start + range_bytes - 1 - offset, scanned)
            cut = chunk.find(b"\n", want) if want < len(chunk) else -1
            if cut < 0:
                break
            newlines += chunk.count(b"\n", scanned, cut + 1)
            ranges.append((start, offset + cut + 1, line))
            line, newlines = line + newlines, 0
            start, scanned = offset + cut + 1, cut + 1
        newlines += chunk.count(b"\n", scanned)
        offset += len(chunk)
    if start < offset:
        ranges.append((start, offset, line))
    return ranges


def plan_line_ranges(handle, limits: ReadLimits):
    """Line ranges of a JSON-lines file of any size; None (read whole) for one of at
    most range_bytes (so an empty file is a reject), or one gzipped or in UTF-16."""
    if handle.read(2) in (GZIP_MAGIC, *UTF16_BOMS):
        return None
    handle.seek(0)
    ranges = stream_line_ranges(handle, limits.range_bytes)
    return ranges if ranges and ranges[-1][1] > limits.range_bytes else None


def read_line_range(path, start: int, end: int, first_line: int, now: datetime, limits: ReadLimits):
    """The RawInputs of one line range of a JSON-lines file, read line by line: a line
    over max_record_bytes is a `too_large` reject of its own (`PATH#N`), and the
    lines around it are RawInputs numbered from their first line."""
    shown = display_name(path)

    def raw_input(lines: list, first: int) -> dict:
        return {
            "input": shown,
            "name": format_name(shown),
            "data": b"".join(lines),
            "fetched_at": now,
            "format": "jsonl",
            "first_line": first,
        }

    lines: list[bytes] = []
    first, number, position = first_line, first_line, start
    with open_file(path) as handle:
        handle.seek(start)
        while position < end:
            line = handle.readline(limits.max_record_bytes + 1)
            if not line:
                break
            position += len(line)
            if len(line) > limits.max_record_bytes and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):  # the rest of it, never held whole
                    line = handle.readline(SCAN_CHUNK_BYTES)
                    position += len(line)
                if lines:
                    yield raw_input(lines, first)
                    lines = []
                yield make_reject(
                    f"{shown}#{number}", "read", "too_large", f"JSON line over {limits.max_record_bytes} bytes"
                )
            else:
                if not lines:
                    first = number
                lines.append(line)
            number += 1
    if lines:
        yield raw_input(lines, first)


def file_format(path, kind: str):
    """The format that reads a listed file: a --feed file is a feed; else by extension,
    else by sniffing its first bytes (decompressed when gzipped)."""
    if kind == FEED:
        return format_named(FEED)
    by_extension = format_by_extension(format_name(display_name(path)))
    if by_extension is not None:
        return by_extension
    with open_file(path) as handle:
        head = handle.read(4096)
    if head[:2] == GZIP_MAGIC:
        head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 2048)
    return format_named(sniff_format(head))


def file_ranges(path_and_kind: tuple, limits: ReadLimits = ReadLimits()) -> list[tuple]:
    """(path, kind, start, end, first) to read: a whole file (start, end = 0, None), or for
    a splittable format (formats.py), its ranges, with the format's name as kind."""
    path, kind = path_and_kind
    whole = [(path, kind, 0, None, 0)]
    try:
        if special_file_reason(real_path(path)):
            return whole  # read_file rejects it without opening it
        fmt = file_format(path, kind)
        if not fmt.splittable:
            return whole
        with open_file(path) as handle:
            ranges = named_function(fmt.plan_ranges)(handle, limits)
    except Exception:  # noqa: BLE001 - counted; the file is read whole, and read_file rejects what it cannot read
        Metrics.counter(NAMESPACE, "range_plan_errors").inc()
        return whole
    return whole if ranges is None else [(path, fmt.name, start, end, first) for start, end, first in ranges]


def read_listed(file_range: tuple, now: datetime, limits: ReadLimits = ReadLimits()):
    """The RawInputs (or rejects) of a file or range; a --feed file is marked as a feed."""
    path, kind, start, end, first = file_range
    name = display_name(path) + (f"#{first}+" if end is not None else "")
    try:
        if end is not None:
            read_range = format_named(kind).read_range
            if read_range is None:  # file_ranges plans ranges only for formats that read them
                raise ValueError(f"format {kind!r} reads no ranges")
            yield from named_function(read_range)(path, start, end, first, now, limits)
            return
        for record in read_file(path, now, limits.max_input_bytes):
            yield as_feed(record) if kind == FEED else record
    except Exception as error:  # noqa: BLE001 - any I/O failure or reader bug is a reject, never a crash
        yield make_reject(
            name,
            "read",
            "unreadable" if isinstance(error, OSError) else "read_error",
            f"{type(error).__name__}: {error}",
        )


class ReadInputs(beam.PTransform):
    """--input specs and --feed files -> (RawInput records, read Rejects).

    One chain, no Flatten, for the records: on runners that fuse stages, file
    contents stay inside the stage that reads and parses them. Paths that are not
    valid UTF-8 travel as bytes (`portable_path`): Beam's coders encode str as UTF-8.

    planned: (file ranges, listing rejects) planned before the run (a chunk of a very
    large input, pipeline/chunks.py) instead of the specs listed by the pipeline.
    """

    def __init__(
        self,
        inputs: list[str],
        feed_files: list[str],
        now: datetime,
        limits: ReadLimits = ReadLimits(),
        planned: tuple | None = None,
    ):
        super().__init__()
        self.specs = [(portable_path(spec), "input") for spec in inputs] + [
            (portable_path(spec), FEED) for spec in feed_files
        ]
        self.now, self.limits, self.planned = now, limits, planned

    def expand(self, pbegin):
        if self.planned is None:
            # (path, kind) tuples are never rejects (is_reject wants "stage" and "error" keys).
            listed, list_rejects = (
                pbegin
                | "Specs" >> beam.Create(self.specs)
                | "ListFiles" >> beam.FlatMap(list_spec)
                | "SplitListRejects" >> SplitRejects()
            )
            # A file named twice is read once: the batch graph reads inputs twice and
            # matches the passes by input.
            ranges = listed | "OncePerFile" >> beam.Distinct() | "Ranges" >> beam.FlatMap(file_ranges, self.limits)
        else:
            planned_ranges, planned_rejects = self.planned
            ranges = pbegin | "PlannedRanges" >> beam.Create(list(planned_ranges))
            list_rejects = pbegin | "PlannedListRejects" >> beam.Create(list(planned_rejects))
        raw, read_rejects = (
            ranges
            # Spread the reading over workers; the listing happened on one.
            | "SpreadRanges" >> beam.Reshuffle()
            | "ReadFile" >> beam.FlatMap(read_listed, self.now, self.limits)
            | "SplitReadRejects" >> SplitRejects()
        )
        return raw, (list_rejects, read_rejects) | "ReadRejects" >> beam.Flatten()
