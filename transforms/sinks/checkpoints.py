"""Analysed articles -> their rows in five tables, committed in checkpoints.

A batch run with NLP spends its hours in spaCy. So that a crash after an hour
does not redo the hour, each worker commits what it has written every
`checkpoint_seconds` (and at the end of each bundle) as a commit of its own
(transforms/sinks/commit.py): a checkpoint holds whole articles, each with its
entities, quotes, signature and NLP rejects. A rerun after a crash finds the
checkpointed articles stored and skips them (`already_ingested`); the rest are
decided against them as against any stored article, which gives the tables of one
clean run.

Checkpoints are for runners on which a failed bundle fails the run (the local
ones). Where a runner may retry a bundle whose checkpoint already committed, the
retry would write its articles twice; there `checkpoint_seconds` is None and
every file is staged under the run, to be committed once by the driver after the
pipeline succeeded (only files of successful bundles, as WriteTableInBundles does).
"""

import time
import uuid

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from schemas.tables import ARTICLES, ENTITIES, PARTITION_COLUMN, QUOTES, REJECTS, SIGNATURES
from transforms.dedup.near_duplicates import signature_row
from transforms.metrics import NAMESPACE, progress_tally
from transforms.rejects import finalize_reject
from transforms.sinks.commit import (
    COMMIT_SUFFIX,
    MANIFEST,
    STAGING,
    commit_staged,
    exists,
    join,
    list_folders,
    move,
    record_paths,
    staging_dir,
)
from transforms.sinks.outputs import is_winner
from transforms.sinks.write import PartitionFiles, commit_files, file_schema, partition_path

CHECKPOINT_TABLES = (ARTICLES, ENTITIES, QUOTES, SIGNATURES, REJECTS)
DEFAULT_CHECKPOINT_MINUTES = 10.0


def analysed_rows(analysed: dict, run_id: str, rejected_at):
    """(table name, row) of everything one analysed article writes (nlp.analysed_article)."""
    article = analysed["article"]
    yield ARTICLES.name, article
    for entity in analysed["entities"]:
        yield ENTITIES.name, entity
    for quote in analysed["quotes"]:
        yield QUOTES.name, quote
    if is_winner(article):  # later runs find near-duplicates of winners through it
        yield SIGNATURES.name, signature_row(article)
    for reject in analysed["rejects"]:
        yield REJECTS.name, finalize_reject(reject, run_id, rejected_at)


def checkpoint_id(run_id: str) -> str:
    return f"{run_id}-c{uuid.uuid4().hex[:10]}"


def checkpoint_record_paths(output: str, run_id: str) -> list[str]:
    """The commit records of `run_id`'s committed checkpoints."""
    return [
        path
        for path in record_paths(output)
        if path.rsplit("/", 1)[-1].startswith(f"{run_id}-c") and path.endswith(COMMIT_SUFFIX)
    ]


def committed_checkpoints(output: str, run_id: str) -> int:
    """How many checkpoints of `run_id` are committed."""
    return len(checkpoint_record_paths(output, run_id))


def unpublished_checkpoints(output: str, run_id: str) -> int:
    """How many checkpoints of `run_id` are committed (manifest written) but not all published."""
    return sum(
        1
        for commit_id in list_folders(join(output, STAGING))
        if commit_id.startswith(f"{run_id}-c") and exists(join(staging_dir(output, commit_id), MANIFEST))
    )


def checkpoint_file_name(commit_id: str) -> str:
    """One file per table partition per checkpoint (commit.belongs_to reads the id back)."""
    return f"part-{commit_id}.parquet"


class TableFiles:
    """A PartitionFiles per table, all under one staging root."""

    def __init__(self, root: str, run_id: str):
        self.files = {
            table.name: PartitionFiles(file_schema(table), self.folder_of(root, table.name), run_id)
            for table in CHECKPOINT_TABLES
        }

    @staticmethod
    def folder_of(root: str, table_name: str):
        return lambda partition: partition_path(root, table_name, partition)

    def add(self, table_name: str, row: dict) -> None:
        self.files[table_name].add(row[PARTITION_COLUMN], row)

    def close(self) -> list[tuple[str, str, str]]:
        """(table, partition, temporary path) of every file written."""
        try:
            return [(name, partition, path) for name, files in self.files.items() for partition, path in files.close()]
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        for files in self.files.values():
            files.abort()


class WriteAnalysedFn(beam.DoFn):
    """Analysed articles -> files of five tables; commits a checkpoint every
    checkpoint_seconds and at the end of each bundle, or (checkpoint_seconds None)
    emits ((table, partition), temporary path) for the run's own commit."""

    def __init__(self, output_dir: str, run_id: str, rejected_at, checkpoint_seconds: float | None):
        self.output_dir, self.run_id, self.rejected_at = output_dir, run_id, rejected_at
        self.checkpoint_seconds = checkpoint_seconds

    def setup(self):
        self.nlp_failures = Metrics.counter(NAMESPACE, "nlp_failures")
        self.checkpoints = Metrics.counter(NAMESPACE, "checkpoints")
        self.progress = progress_tally()

    def start_bundle(self):
        self.open()

    def open(self):
        self.commit_id = checkpoint_id(self.run_id) if self.checkpoint_seconds else self.run_id
        self.files = TableFiles(staging_dir(self.output_dir, self.commit_id), self.run_id)
        self.opened, self.held = time.monotonic(), 0

    def process(self, analysed):
        try:
            for table_name, row in analysed_rows(analysed, self.run_id, self.rejected_at):
                self.files.add(table_name, row)
        except BaseException:
            self.files.abort()
            raise
        self.nlp_failures.inc(len(analysed["rejects"]))
        self.held += 1
        if self.checkpoint_seconds and time.monotonic() - self.opened >= self.checkpoint_seconds:
            self.commit_checkpoint()
            self.open()

    def commit_checkpoint(self):
        written = self.files.close()
        if not self.held:
            return
        for _table, _partition, temporary in written:
            move(temporary, temporary.rsplit("/", 1)[0] + "/" + checkpoint_file_name(self.commit_id))
        commit_staged(self.output_dir, self.commit_id, self.run_id)
        self.checkpoints.inc()
        self.progress.add("committed", self.held)
        self.progress.flush()

    def finish_bundle(self):
        if self.checkpoint_seconds:
            self.commit_checkpoint()
            return
        for table_name, partition, temporary in self.files.close():
            yield GlobalWindows.windowed_value(((table_name, partition), temporary))


class CommitRunFilesFn(beam.DoFn):
    """((table, partition), temporary paths of successful bundles) -> their names in
    the run's staging folder (the driver commits the run)."""

    def __init__(self, output_dir: str, run_id: str):
        self.output_dir, self.run_id = output_dir, run_id

    def process(self, keyed_paths):
        (table_name, partition), paths = keyed_paths
        folder = partition_path(staging_dir(self.output_dir, self.run_id), table_name, partition)
        yield from commit_files(folder, self.run_id, paths)


class WriteAnalysed(beam.PTransform):
    """Analysed articles -> the articles, entities, quotes, signatures and NLP rejects
    tables, in checkpoints (see the module's docstring)."""

    def __init__(self, output_dir: str, run_id: str, rejected_at, checkpoint_seconds: float | None):
        super().__init__()
        self.output_dir, self.run_id = output_dir, run_id
        self.rejected_at, self.checkpoint_seconds = rejected_at, checkpoint_seconds

    def expand(self, analysed):
        staged = analysed | "WriteFiles" >> beam.ParDo(
            WriteAnalysedFn(self.output_dir, self.run_id, self.rejected_at, self.checkpoint_seconds)
        )
        if self.checkpoint_seconds:
            return staged
        return (
            staged
            | "GroupByTablePartition" >> beam.GroupByKey()
            | "NameFiles" >> beam.ParDo(CommitRunFilesFn(self.output_dir, self.run_id))
        )
