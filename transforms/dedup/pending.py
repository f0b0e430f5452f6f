"""Pending signatures: each article's sketch and MinHash, staged in files by the workers
of a batch run's first pass instead of travelling through the dedup shuffles.

A sketch and MinHash take about 2 KB an article, four fifths of a key row. Beam's local
runner holds every shuffle in the coordinator's memory, so carried through the
dedup steps they made its memory grow by tens of KB an article. Staged in files,
the shuffles carry slim key rows and packed band keys and pairs only, and the
workers read back what they need: the records of near-duplicate candidates (per pair
of id shards, transforms/dedup/pairs.py), of articles sharing a canonical URL, and
(with --no-nlp) the signatures of the winners.

Files are Arrow IPC (`*-sNN.pending`, PENDING_SIGNATURE_SCHEMA), each holding the rows
of one id shard NN, under the run's staging folder: no table reads them, and they go
with the staging folder when the run commits or is recovered. Stored signatures in
candidate pairs are staged the same way (STORED_PREFIX). Their paths travel down the
graph; a bundle that failed and was retried leaves files no path names.
"""

import os
import re
import uuid
import zlib

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

from schemas.tables import PENDING_SIGNATURE_SCHEMA
from transforms.dedup.near_duplicates import (
    SIGNATURE_FIELDS,
    record_from_signature,
    signature_meta,
    signature_row_from_key,
    uint32s,
)
from transforms.sinks.commit import is_local, join

PENDING_FOLDER = "_pending"
ROWS_PER_FILE = 20_000  # rows a worker gathers before it writes them, split by id shard
ID_SHARDS = 16  # files hold the rows of one id shard: a verifying worker reads 2 shards' files
STORED_PREFIX = "stored-"  # files of stored signatures staged for verification
SHARD_SUFFIX = re.compile(r"-s(\d+)\.pending$")
SIGNATURES_TAG = "for_signatures"  # a second copy of the paths (see StagePendingFn)
# What the dedup steps shuffle of a key row: what picks winners and what a decision
# writes. The rest (signature, word count, date, run) waits in the pending files.
SLIM_FIELDS = (
    "article_id",
    "input",
    "canonical_url",
    "content_hash",
    "published_at",
    "text_length",
    "duplicate_of",
    "duplicate_reason",
    "revision_of",
)


def pending_row(key: dict) -> dict:
    """The pending row of a key row (near_duplicates.article_key): its signature
    columns, with the hash lists as bytes, and its input."""
    return {**signature_meta(key), "input": key["input"], "sketch": key["sketch"], "minhash": key["minhash"]}


def id_shard(article_id: str, shards: int = ID_SHARDS) -> int:
    """The id shard of an article: the same in every worker and every run."""
    return zlib.crc32(article_id.encode("utf-8", "surrogatepass")) % shards


def file_shard(path: str) -> int | None:
    """The id shard whose rows a pending file holds, or None."""
    match = SHARD_SUFFIX.search(path)
    return int(match.group(1)) if match else None


def write_pending(folder: str, rows: list, prefix: str = "") -> list:
    """Write rows to new files in folder, one per id shard; return their paths."""
    if is_local(folder):
        os.makedirs(folder, exist_ok=True)
    by_shard: dict = {}
    for row in rows:
        by_shard.setdefault(id_shard(row["article_id"]), []).append(row)
    stem = prefix + uuid.uuid4().hex
    paths = []
    for shard, shard_rows in sorted(by_shard.items()):
        path = join(folder, f"{stem}-s{shard:02d}.pending")
        table = pa.Table.from_pylist(shard_rows, schema=PENDING_SIGNATURE_SCHEMA)
        with FileSystems.create(path) as handle, pa.ipc.new_file(handle, PENDING_SIGNATURE_SCHEMA) as writer:
            writer.write_table(table)
        paths.append(path)
    return paths


def read_pending(path: str) -> pa.Table:
    with FileSystems.open(path) as handle:
        return pa.ipc.open_file(pa.BufferReader(handle.read())).read_all()


def pending_rows(path: str, wanted) -> list:
    """The rows of a pending file whose article_id is in `wanted` (a dict or set)."""
    table = read_pending(path)
    picked = [i for i, article_id in enumerate(table.column("article_id").to_pylist()) if article_id in wanted]
    return table.take(picked).to_pylist() if picked else []


def pending_records(path: str, wanted):
    """Records (near_duplicates.Record) of the wanted articles in a pending file: new
    articles', or stored ones' in the files StageStoredFn writes."""
    existing = os.path.basename(path).startswith(STORED_PREFIX)
    for row in pending_rows(path, wanted):
        record = record_from_signature(row, existing=existing)
        if record is not None:
            yield record


def winner_signatures(path: str, decisions):
    """SIGNATURES rows of the articles in a pending file that won (decide.Decisions):
    their input's decision names them and no winner."""
    table = read_pending(path)
    inputs, ids = table.column("input").to_pylist(), table.column("article_id").to_pylist()
    picked = []
    for i, (input_name, article_id) in enumerate(zip(inputs, ids)):
        decided = decisions.get(input_name)
        if decided is not None and decided[0] == article_id and decided[1] is None:
            picked.append(i)
    for row in table.take(picked).to_pylist() if picked else []:
        yield signature_row_from_key(row)


class StagePendingFn(beam.DoFn):
    """Key rows -> the same rows with their SLIM_FIELDS only (main output); their
    signatures go to pending files, whose paths are output at the end of each file,
    twice: readers that wait for different side inputs each need their own copy
    (Beam's local runner deadlocks when two of them read one PCollection)."""

    def __init__(self, folder: str, rows_per_file: int = ROWS_PER_FILE):
        self.folder, self.rows_per_file = folder, rows_per_file

    def start_bundle(self):
        self.rows = []

    def process(self, key):
        self.rows.append(pending_row(key))
        if len(self.rows) >= self.rows_per_file:
            yield from self.flush(beam.pvalue.TaggedOutput)
        yield {name: key.get(name) for name in SLIM_FIELDS}

    def flush(self, tagged):
        if not self.rows:
            return []
        paths = write_pending(self.folder, self.rows)
        self.rows = []
        return [tagged(tag, path) for path in paths for tag in (SIGNATURES_TAG, "paths")]

    def finish_bundle(self):
        yield from self.flush(lambda tag, path: beam.pvalue.TaggedOutput(tag, GlobalWindows.windowed_value(path)))


def stored_pending_row(row: dict) -> dict:
    """A stored signature (a SIGNATURES row, its hash lists as lists or as bytes) as a
    pending row."""
    hashes = {name: uint32s(row.get(name)).astype("<u4").tobytes() for name in SIGNATURE_FIELDS}
    return {**signature_meta(row), "input": None, **hashes}


class StageStoredFn(beam.DoFn):
    """Stored signatures (the stored members of candidate pairs) -> paths of pending
    files (prefix STORED_PREFIX) holding them."""

    def __init__(self, folder: str, rows_per_file: int = ROWS_PER_FILE):
        self.folder, self.rows_per_file = folder, rows_per_file

    def start_bundle(self):
        self.rows = []

    def process(self, row):
        self.rows.append(stored_pending_row(row))
        if len(self.rows) >= self.rows_per_file:
            yield from self.flush()

    def flush(self):
        paths = write_pending(self.folder, self.rows, STORED_PREFIX) if self.rows else []
        self.rows = []
        return paths

    def finish_bundle(self):
        for path in self.flush():
            yield GlobalWindows.windowed_value(path)
