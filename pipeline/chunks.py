"""Very large inputs run in chunks, each a run of its own that commits.

Beam's local runner holds every shuffle in the coordinator's memory, and what
deduplication shuffles grows with the input. A run whose files add up to more than
--chunk-mb is planned here, before any pipeline starts, as consecutive chunks of
the file ranges the reader would read (transforms/ingest/read.py: file_ranges),
about --chunk-mb each. Each chunk is then run and committed as a run of its own
(`<run id>-part001`, ...): it is deduplicated against the chunks committed before it
as against any earlier run, and its stored rows are read semi-joined on its keys
(transforms/dedup/stored.py), so memory stays near that of one chunk.

The plan depends only on the files, so a rerun after a crash plans the same
chunks: the committed ones are skipped as already ingested, and the rest run as
they would have.
"""

import os
from dataclasses import dataclass

from transforms.ingest.formats import ReadLimits
from transforms.ingest.read import file_ranges, is_remote, list_spec, portable_path

DEFAULT_CHUNK_MB = 256.0
MB = 1024 * 1024


@dataclass(frozen=True)
class Chunk:
    """One chunk of a run's input files: what its ReadInputs reads."""

    number: int  # from 1
    of: int
    ranges: tuple  # (path, kind, start, end, first line), as read.file_ranges plans them
    rejects: tuple  # rejects of the listing (the first chunk carries them)


def range_bytes(file_range: tuple) -> int:
    """The bytes a planned range covers (a whole file: its size)."""
    path, _, start, end, _ = file_range
    if end is not None:
        return end - start
    try:
        return os.path.getsize(path)
    except OSError:  # read_file rejects it
        return 0


def chunk_ranges(ranges: list, sizes: list, chunk_bytes: float) -> list:
    """Consecutive groups of ranges of about chunk_bytes each (a range is never split)."""
    groups: list[list] = []
    current: list = []
    filled = 0
    for file_range, size in zip(ranges, sizes):
        if current and filled + size > chunk_bytes:
            groups.append(current)
            current, filled = [], 0
        current.append(file_range)
        filled += size
    return groups + ([current] if current else [])


def plan_chunks(opts, limits: ReadLimits = ReadLimits()) -> list | None:
    """The chunks of a run (NewsbeamOptions), or None when it runs whole: --chunk-mb 0,
    input files of at most --chunk-mb in all, remote inputs, or feeds and pages from the
    web (fetched once, in one run)."""
    if opts.chunk_mb <= 0 or opts.feed or opts.feeds_file or opts.sitemap or opts.fetch_articles:
        return None
    if any(is_remote(spec) for spec in opts.input):
        return None
    chunk_bytes = opts.chunk_mb * MB
    listed, rejects, seen = [], [], set()
    for spec in opts.input:
        for entry in list_spec((portable_path(spec), "input")):
            if isinstance(entry, dict):
                rejects.append(entry)
            elif entry not in seen:  # a file named twice is read once (ReadInputs: OncePerFile)
                seen.add(entry)
                listed.append(entry)
    listed.sort(key=lambda entry: (os.fsdecode(entry[0]), entry[1]))  # the same plan on every rerun
    sizes = [range_bytes((path, kind, 0, None, 0)) for path, kind in listed]
    if sum(sizes) <= chunk_bytes:
        return None
    ranges = [file_range for entry in listed for file_range in file_ranges(entry, limits)]
    groups = chunk_ranges(ranges, [range_bytes(r) for r in ranges], chunk_bytes)
    if len(groups) < 2:
        return None
    return [
        Chunk(number, len(groups), tuple(group), tuple(rejects) if number == 1 else ())
        for number, group in enumerate(groups, 1)
    ]
