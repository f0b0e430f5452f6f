"""Write: rows -> hive-partitioned Parquet files that land atomically.

One file per table partition per run (GroupByKey on the partition value), written
under a hidden temporary name and renamed into place, so readers (DuckDB's
`**/*.parquet` globs) never see half a file and a rerun never overwrites
another run's files. fileio.WriteToFiles is not used: with `key=value/`
sub-folders it leaves files in `.temp` folders (Beam issue 21313).
"""
import os
import uuid

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindow

from schemas.tables import PARTITION_COLUMN

ROW_GROUP_ROWS = 64_000  # several row groups per big file let DuckDB read it in parallel
COMPRESSION = "zstd"


def partition_path(output_dir: str, table_name: str, partition: str) -> str:
    return FileSystems.join(output_dir, table_name, f"{PARTITION_COLUMN}={partition}")


def part_file_name(run_id: str, window=None) -> str:
    """Deterministic per run, partition and window: a retried bundle rewrites the same name.

    Batch runs have one (global) window; a stream writes a file per window.
    """
    windowed = window is not None and not isinstance(window, GlobalWindow)
    suffix = f"-w{window.start.to_utc_datetime():%Y%m%dT%H%M%S}" if windowed else ""
    return f"part-{run_id}{suffix}.parquet"


def is_local(path: str) -> bool:
    return FileSystems.get_scheme(path) in (None, "file")


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


class WritePartitionFn(beam.DoFn):
    def __init__(self, table, output_dir: str, run_id: str):
        self.table, self.output_dir, self.run_id = table, output_dir, run_id

    def process(self, keyed_rows, window=beam.DoFn.WindowParam):
        partition, rows = keyed_rows
        folder = partition_path(self.output_dir, self.table.name, partition)
        path = write_partition(rows, file_schema(self.table), folder, part_file_name(self.run_id, window))
        if path:
            yield path


class WriteTable(beam.PTransform):
    """Rows of one table (dicts with its columns) -> Parquet files; outputs their paths."""

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
