"""Pending signatures: each article's sketch and MinHash, staged in files by the workers
of a batch run's first pass instead of travelling through the dedup shuffles.

A sketch and MinHash take about 2 KB an article, four fifths of a key row. Beam's local
runner holds every shuffle in the coordinator's memory, so carried through the
dedup steps they made its memory grow by tens of KB an article. Staged in files,
the shuffles carry slim key rows and packed band keys only, and Deduplicate reads
back what it needs: the records of near-duplicate candidates and of articles
sharing a canonical URL, and (with --no-nlp) the signatures of the winners.

Files are Arrow IPC (`*.pending`, PENDING_SIGNATURE_SCHEMA) under the run's staging
folder: no table reads them, and they go with the staging folder when the run
commits or is recovered. Their paths travel down the graph; a bundle that failed
and was retried leaves a file no path names.
"""

import os
import uuid

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

from schemas.tables import PENDING_SIGNATURE_SCHEMA
from transforms.dedup.near_duplicates import record_from_signature, signature_meta, signature_row_from_key
from transforms.sinks.commit import is_local, join

PENDING_FOLDER = "_pending"
ROWS_PER_FILE = 20_000  # about 50 MB a file: a reader holds one file at a time
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


def write_pending(folder: str, rows: list) -> str:
    """Write rows to a new file in folder; return its path."""
    if is_local(folder):
        os.makedirs(folder, exist_ok=True)
    path = join(folder, f"{uuid.uuid4().hex}.pending")
    table = pa.Table.from_pylist(rows, schema=PENDING_SIGNATURE_SCHEMA)
    with FileSystems.create(path) as handle, pa.ipc.new_file(handle, PENDING_SIGNATURE_SCHEMA) as writer:
        writer.write_table(table)
    return path


def read_pending(path: str) -> pa.Table:
    with FileSystems.open(path) as handle:
        return pa.ipc.open_file(pa.BufferReader(handle.read())).read_all()


def pending_rows(path: str, wanted) -> list:
    """The rows of a pending file whose article_id is in `wanted` (a dict or set)."""
    table = read_pending(path)
    picked = [i for i, article_id in enumerate(table.column("article_id").to_pylist()) if article_id in wanted]
    return table.take(picked).to_pylist() if picked else []


def pending_records(path: str, wanted):
    """Records (near_duplicates.Record) of the wanted new articles in a pending file."""
    for row in pending_rows(path, wanted):
        record = record_from_signature(row, existing=False)
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
        path = write_pending(self.folder, self.rows)
        self.rows = []
        return [tagged(SIGNATURES_TAG, path), tagged("paths", path)]

    def finish_bundle(self):
        yield from self.flush(lambda tag, path: beam.pvalue.TaggedOutput(tag, GlobalWindows.windowed_value(path)))
