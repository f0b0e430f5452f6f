"""Read: input specs (paths, globs, directories, feed URLs) to RawInput records.

Listing and reading go through Beam's FileSystems, so the same code reads local
paths, gs:// or s3:// on a cluster.
"""
import gzip
import os
import re
import stat
import zlib
from datetime import datetime, timezone

import apache_beam as beam
from apache_beam.io.filesystem import FileSystem
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
    except Exception as error:  # a failed listing is a reject for the spec, never a crash
        rejects.append(make_reject(display_name(pattern), "read", "unreadable",
                                   f"cannot list: {type(error).__name__}: {error}"))
        return []


def local_glob(pattern: str, rejects: list) -> list[str]:
    """Local files matching a glob with Beam's semantics (FileSystem.translate_pattern:
    `*` stays within a folder, `**` crosses folders), walked with `walk_files`:
    Beam's own local match ignores listing errors."""
    matches = re.compile(FileSystem.translate_pattern(pattern)).match
    root = os.path.dirname(re.match(r"[^[*?]*", pattern).group(0))
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
            rejects.append(make_reject(display_name(folder or "."), "read", "unreadable",
                                       f"cannot list folder: {type(error).__name__}: {error}"))
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
        with FileSystems.open(real, compression_type="uncompressed") as handle:
            data = handle.read(limit + 1)
    except Exception as error:  # any I/O failure is a reject, never a crash
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
    yield {"input": shown, "name": format_name(shown), "data": data,
           "fetched_at": now, "format": None}


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
    return {**raw, "format": FORMAT_FEED} if "data" in raw else raw


def list_spec(spec_and_kind: tuple) -> list:
    """(path, kind) of every file a (spec, kind) names, kind "input" or "feed", and
    a Reject for each folder (or the spec) that could not be listed."""
    spec, kind = spec_and_kind
    try:
        paths, rejects = list_files(spec)
    except Exception as error:  # a listing bug must not end the run: record it
        return [make_reject(display_name(spec), "read", "unreadable",
                            f"cannot list: {type(error).__name__}: {error}")]
    return [(path, kind) for path in paths] + rejects


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
    try:
        if kind == FORMAT_FEED or not format_name(display_name(path)).lower().endswith(JSONL_EXTENSIONS):
            return whole
        if special_file_reason(real_path(path)):
            return whole  # read_file rejects it without opening it
        with FileSystems.open(real_path(path), compression_type="uncompressed") as handle:
            data = handle.read(MAX_INPUT_BYTES + 1)
    except Exception:  # read_file will record why
        return whole
    if len(data) <= range_bytes or len(data) > MAX_INPUT_BYTES or data[:2] in (GZIP_MAGIC, b"\xff\xfe", b"\xfe\xff"):
        return whole  # one range at most (so an empty file is a reject), too large (a reject),
        # compressed or UTF-16: read whole
    return [(path, kind, start, end, line) for start, end, line in line_ranges(data, range_bytes)]


def read_range(path, start: int, end: int, first_line: int, now: datetime):
    """The RawInput of one line range of a JSON-lines file."""
    shown = display_name(path)
    try:
        with FileSystems.open(real_path(path), compression_type="uncompressed") as handle:
            handle.seek(start)
            data = handle.read(end - start)
    except Exception as error:  # any I/O failure is a reject, never a crash
        yield make_reject(f"{shown}#{first_line}+", "read", "unreadable", f"{type(error).__name__}: {error}")
        return
    yield {"input": shown, "name": format_name(shown), "data": data, "fetched_at": now,
           "format": FORMAT_JSONL, "first_line": first_line}


def read_listed(file_range: tuple, now: datetime) -> list:
    """The RawInput (or reject) of a file or line range; a --feed file is marked as a feed."""
    path, kind, start, end, first_line = file_range
    try:
        if end is not None:
            return list(read_range(path, start, end, first_line, now))
        return [as_feed(record) if kind == FORMAT_FEED else record for record in read_file(path, now)]
    except Exception as error:  # a reader bug must not end the run: record it
        name = display_name(path) + (f"#{first_line}+" if end is not None else "")
        return [make_reject(name, "read", "read_error", f"{type(error).__name__}: {error}")]


class ReadInputs(beam.PTransform):
    """--input specs and --feed files -> (RawInput records, read Rejects).

    One chain, no Flatten, for the records: on runners that fuse stages, file
    contents stay inside the stage that reads and parses them. Paths that are not
    valid UTF-8 travel as bytes (`portable_path`): Beam's coders encode str as UTF-8.
    """

    def __init__(self, inputs: list[str], feed_files: list[str], now: datetime):
        super().__init__()
        self.specs = [(portable_path(spec), "input") for spec in inputs] + \
                     [(portable_path(spec), FORMAT_FEED) for spec in feed_files]
        self.now = now

    def expand(self, pbegin):
        # (path, kind) tuples are never rejects (is_reject wants "stage" and "error" keys).
        listed, list_rejects = (
            pbegin
            | "Specs" >> beam.Create(self.specs)
            | "ListFiles" >> beam.FlatMap(list_spec)
            | "SplitListRejects" >> SplitRejects())
        raw, read_rejects = (
            listed
            # A file named twice is read once: the batch graph reads inputs twice and
            # matches the passes by input.
            | "OncePerFile" >> beam.Distinct()
            | "Ranges" >> beam.FlatMap(file_ranges)
            # Spread the reading over workers; the listing happened on one.
            | "SpreadRanges" >> beam.Reshuffle()
            | "ReadFile" >> beam.FlatMap(read_listed, self.now)
            | "SplitReadRejects" >> SplitRejects()
        )
        return raw, (list_rejects, read_rejects) | "ReadRejects" >> beam.Flatten()
