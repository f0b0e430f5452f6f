"""Write: rows -> hive-partitioned Parquet files that land atomically.

Files are written under hidden temporary names and renamed into place, so
readers (DuckDB's `**/*.parquet` globs) never see half a file and a rerun never
overwrites another run's files. fileio.WriteToFiles is not used: with
`key=value/` sub-folders it leaves files in `.temp` folders (Beam issue 21313).

Every writer writes under a commit's staging folder (transforms/sinks/commit.py); nothing
is visible to readers until that commit is published.

Two ways, one file format:
- WriteTable: GroupByKey on the partition, one file per partition per window,
  under the window's own staging folder; outputs (commit id, path), which
  commit.CommitWindows commits once per window. Every row passes through the
  shuffle: for streams' small windows and small tables.
- WriteTableInBundles: each bundle streams its rows into one temporary file per
  partition; only the file names are shuffled, and a commit step renames the
  files of the bundles that succeeded. Batch runs: memory does not grow with the
  input, and there is at most one file per partition per worker bundle.
"""

import os
import uuid

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindow, GlobalWindows

from schemas.tables import PARTITION_COLUMN
from transforms.sinks.commit import is_local, staging_dir, window_commit_id

ROW_GROUP_ROWS = 64_000  # several row groups per big file let DuckDB read it in parallel
COMPRESSION = "zstd"
# A bundle writer holds at most about this much Arrow data before writing a row
# group, whatever the number of partitions: article rows carry whole texts.
MAX_BUFFERED_BYTES = 32 * 2**20
# ... and turns Python rows into Arrow batches this many (or this many bytes) at a time,
# per partition; the Python rows of all partitions together stay under MAX_PYTHON_BYTES
# (rows spread over many dates would otherwise all wait in Python until the bundle ends).
ARROW_BATCH_ROWS, ARROW_BATCH_BYTES = 500, 2**20
MAX_PYTHON_BYTES = 4 * 2**20


def partition_path(output_dir: str, table_name: str, partition: str) -> str:
    return FileSystems.join(output_dir, table_name, f"{PARTITION_COLUMN}={partition}")


def part_file_name(run_id: str, window=None) -> str:
    """Deterministic per run, partition and window: a retried bundle rewrites the same name.

    Batch runs have one (global) window; a stream writes a file per window.
    """
    windowed = window is not None and not isinstance(window, GlobalWindow)
    suffix = f"-w{window.start.to_utc_datetime():%Y%m%dT%H%M%S}" if windowed else ""
    return f"part-{run_id}{suffix}.parquet"


def rows_to_batches(rows, schema: pa.Schema, batch_rows: int = ROW_GROUP_ROWS):
    """Yield Arrow tables of at most batch_rows rows, without the partition column."""
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= batch_rows:
            yield pa.Table.from_pylist(batch, schema=schema)
            batch = []
    if batch:
        yield pa.Table.from_pylist(batch, schema=schema)


def write_partition(rows, schema: pa.Schema, folder: str, file_name: str) -> str | None:
    """Write rows to folder/file_name through a temporary name; return the final path."""
    if is_local(folder):
        os.makedirs(folder, exist_ok=True)
    final = FileSystems.join(folder, file_name)
    temporary = FileSystems.join(folder, f".{file_name}.{uuid.uuid4().hex}.tmp")
    written = 0
    with FileSystems.create(temporary) as handle:
        writer = pq.ParquetWriter(handle, schema, compression=COMPRESSION)
        try:
            for batch in rows_to_batches(rows, schema):
                writer.write_table(batch, row_group_size=ROW_GROUP_ROWS)
                written += batch.num_rows
        finally:
            writer.close()
    if not written:
        FileSystems.delete([temporary])
        return None
    if FileSystems.exists(final):
        FileSystems.delete([final])
    FileSystems.rename([temporary], [final])
    return final


def file_schema(table) -> pa.Schema:
    """The table's schema minus the partition column, which lives in the path."""
    return table.schema.remove(table.schema.get_field_index(PARTITION_COLUMN))


class TableFilesFn(beam.DoFn):
    """A DoFn writing files of one table of one run under output_dir."""

    def __init__(self, table, output_dir: str, run_id: str):
        self.table, self.output_dir, self.run_id = table, output_dir, run_id

    def folder(self, partition: str) -> str:
        return partition_path(self.output_dir, self.table.name, partition)


class WritePartitionFn(TableFilesFn):
    """(partition, rows) of one window -> a file under that window's staging folder."""

    def process(self, keyed_rows, window=beam.DoFn.WindowParam):
        partition, rows = keyed_rows
        commit_id = window_commit_id(self.run_id, window)
        folder = partition_path(staging_dir(self.output_dir, commit_id), self.table.name, partition)
        path = write_partition(rows, file_schema(self.table), folder, part_file_name(self.run_id, window))
        if path:
            yield commit_id, path


class WriteTable(beam.PTransform):
    """Rows of one table (dicts with its columns) -> Parquet files staged per window of
    the output `output_dir`; outputs (commit id, path) of each."""

    def __init__(self, table, output_dir: str, run_id: str):
        super().__init__()
        self.table, self.output_dir, self.run_id = table, output_dir, run_id

    def expand(self, rows):
        return (
            rows
            | "KeyByPartition" >> beam.Map(lambda row: (row[PARTITION_COLUMN], row))
            | "GroupByPartition" >> beam.GroupByKey()
            | "WriteParquet" >> beam.ParDo(WritePartitionFn(self.table, self.output_dir, self.run_id))
        )


def approximate_size(row: dict) -> int:
    """Bytes a row holds in Python, roughly: its strings, plus a slot and an object
    per list item (a signature's 512 hashes are ints), plus the dict entry and
    object of each field."""
    return (
        sum(len(v) for v in row.values() if isinstance(v, (str, bytes)))
        + sum(40 * len(v) for v in row.values() if isinstance(v, list))
        + 96 * len(row)
    )


def temporary_file_name(run_id: str) -> str:
    """Hidden (ignored by readers and by stored_files) and unique per bundle attempt."""
    return f".part-{run_id}-{uuid.uuid4().hex}.tmp"


def committed_file_name(run_id: str, index: int) -> str:
    return f"part-{run_id}-{index:03d}.parquet"


class PartitionFiles:
    """One bundle's open files, one per partition, fed row by row.

    Rows become Arrow record batches a few hundred at a time (columnar: several
    times smaller than the Python dicts), kept per partition and written as one
    row group when a partition has ROW_GROUP_ROWS of them, or when all partitions
    together hold more than max_bytes of Arrow data (then the biggest goes first).
    Memory stays bounded whatever the input, and row groups stay large.
    """

    def __init__(self, schema: pa.Schema, folder_of, run_id: str, max_bytes: int = MAX_BUFFERED_BYTES):
        self.schema, self.folder_of, self.run_id, self.max_bytes = schema, folder_of, run_id, max_bytes
        # partition -> Python rows not yet converted, and their approximate size
        self.rows: dict[str, list[dict]] = {}
        self.row_bytes: dict[str, int] = {}
        self.python_bytes = 0  # their approximate size, all partitions
        # partition -> Arrow batches, their rows and bytes
        self.batches: dict[str, list[pa.RecordBatch]] = {}
        self.batch_rows: dict[str, int] = {}
        self.batch_bytes: dict[str, int] = {}
        self.writers: dict[str, tuple] = {}  # partition -> (file handle, ParquetWriter)
        self.paths: dict[str, str] = {}  # partition -> temporary path
        self.buffered_bytes = 0  # Arrow bytes held, all partitions

    def add(self, partition: str, row: dict) -> None:
        size = approximate_size(row)
        self.rows.setdefault(partition, []).append(row)
        self.row_bytes[partition] = self.row_bytes.get(partition, 0) + size
        self.python_bytes += size
        if len(self.rows[partition]) >= ARROW_BATCH_ROWS or self.row_bytes[partition] >= ARROW_BATCH_BYTES:
            self.convert(partition)
        while self.python_bytes > MAX_PYTHON_BYTES:
            self.convert(max(self.row_bytes, key=self.row_bytes.__getitem__))

    def convert(self, partition: str) -> None:
        """The partition's Python rows -> one Arrow batch; write when enough is held."""
        rows = self.rows.pop(partition, [])
        self.python_bytes -= self.row_bytes.pop(partition, 0)
        if not rows:
            return
        batch = pa.RecordBatch.from_pylist(rows, schema=self.schema)
        self.batches.setdefault(partition, []).append(batch)
        self.batch_rows[partition] = self.batch_rows.get(partition, 0) + batch.num_rows
        self.batch_bytes[partition] = self.batch_bytes.get(partition, 0) + batch.nbytes
        self.buffered_bytes += batch.nbytes
        if self.batch_rows[partition] >= ROW_GROUP_ROWS:
            self.write_row_group(partition)
        while self.buffered_bytes > self.max_bytes:
            self.write_row_group(max(self.batch_bytes, key=self.batch_bytes.__getitem__))

    def write_row_group(self, partition: str) -> None:
        batches = self.batches.pop(partition, [])
        self.batch_rows.pop(partition, None)
        self.buffered_bytes -= self.batch_bytes.pop(partition, 0)
        if not batches:
            return
        if partition not in self.writers:
            folder = self.folder_of(partition)
            if is_local(folder):
                os.makedirs(folder, exist_ok=True)
            path = FileSystems.join(folder, temporary_file_name(self.run_id))
            handle = FileSystems.create(path)
            self.paths[partition] = path
            self.writers[partition] = (handle, pq.ParquetWriter(handle, self.schema, compression=COMPRESSION))
        self.writers[partition][1].write_table(
            pa.Table.from_batches(batches, schema=self.schema), row_group_size=ROW_GROUP_ROWS
        )

    def close(self) -> list[tuple[str, str]]:
        """Write what is held, close every file; (partition, temporary path) of each."""
        for partition in list(self.rows):
            self.convert(partition)
        for partition in list(self.batches):
            self.write_row_group(partition)
        for handle, writer in self.writers.values():
            writer.close()
            handle.close()
        written = sorted(self.paths.items())
        self.writers, self.paths = {}, {}
        return written

    def abort(self) -> None:
        """After a failure (the one being raised): drop the open files and delete them,
        so no writer is left to fail again when it is garbage-collected."""
        for handle, writer in self.writers.values():
            try:
                writer.close()
                handle.close()
            except OSError:  # the same full disk or read-only folder as the failure itself
                pass
        paths = [path for path in self.paths.values() if FileSystems.exists(path)]
        self.writers, self.paths, self.rows, self.batches = {}, {}, {}, {}
        if paths:
            FileSystems.delete(paths)


def commit_files(partition_folder: str, run_id: str, temporary_paths) -> list[str]:
    """Rename a partition's temporary files to their final names; return those.

    Names follow the sorted temporary names, so a retried commit renames the same
    way; a temporary file already renamed is skipped. Files of failed bundle
    attempts (never committed) are then deleted.
    """
    committed = []
    temporary_paths = sorted(temporary_paths)
    for index, temporary in enumerate(temporary_paths):
        final = FileSystems.join(partition_folder, committed_file_name(run_id, index))
        if FileSystems.exists(temporary):
            if FileSystems.exists(final):
                FileSystems.delete([final])
            FileSystems.rename([temporary], [final])
        committed.append(final)
    pattern = FileSystems.join(partition_folder, f".part-{run_id}-*.tmp")
    try:
        leftovers = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
    except BeamIOError:  # nothing matched, on file systems that raise for that
        leftovers = []
    if leftovers:
        FileSystems.delete(leftovers)
    return committed


class WriteBundleFilesFn(TableFilesFn):
    """Rows -> one temporary file per partition per bundle; emits (partition, path)."""

    def start_bundle(self):
        self.files = PartitionFiles(file_schema(self.table), self.folder, self.run_id)

    def process(self, row):
        try:
            self.files.add(row[PARTITION_COLUMN], row)
        except BaseException:
            self.files.abort()
            raise

    def finish_bundle(self):
        try:
            written = self.files.close()
        except BaseException:
            self.files.abort()
            raise
        for partition, path in written:
            yield GlobalWindows.windowed_value((partition, path))


class CommitFilesFn(TableFilesFn):
    def process(self, partition_and_paths):
        partition, paths = partition_and_paths
        yield from commit_files(self.folder(partition), self.run_id, paths)


class WriteTableInBundles(WriteTable):
    """Rows of one table (dicts with its columns) -> Parquet files, streamed per
    bundle; outputs the committed paths. Batch (global window) only."""

    def expand(self, rows):
        return (
            rows
            | "WriteBundleFiles" >> beam.ParDo(WriteBundleFilesFn(self.table, self.output_dir, self.run_id))
            | "GroupByPartition" >> beam.GroupByKey()
            | "CommitFiles" >> beam.ParDo(CommitFilesFn(self.table, self.output_dir, self.run_id))
        )
