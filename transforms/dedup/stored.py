"""What earlier runs stored under the output directory: compact keys only.

Only committed files count (transforms/sinks/commit.py): files of a run that died
before its commit are never "already stored". Read as a PCollection (one element
per Parquet file, streamed in batches), so a million stored articles never have
to fit in one worker's memory.
"""

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from schemas.tables import ARTICLES, PARTITION_COLUMN, REJECTS, SIGNATURES
from transforms.dedup.near_duplicates import compact_signature
from transforms.sinks.commit import committed_files

ARTICLE_KEY_COLUMNS = ("article_id",)
SIGNATURE_COLUMNS = tuple(c for c in SIGNATURES.column_names if c not in ("run_id", PARTITION_COLUMN))
REJECT_KEY_COLUMNS = ("reject_id",)
BATCH_ROWS = 10_000


class CorruptStoredFile(Exception):
    """A committed file cannot be read: one line naming it and the remedy."""

    def __init__(self, path: str, error: Exception):
        super().__init__(
            f"corrupt stored file {path} ({type(error).__name__}: {error}); "
            "run `newsbeam check --output DIR --repair` to quarantine it"
        )
        self.path = path


def stored_files(output_dir: str, table_name: str) -> list[str]:
    """The committed files of one table (none when nothing is stored yet)."""
    return committed_files(output_dir, table_name)


def read_key_rows(path: str, columns):
    """Yield the rows of `columns` of one Parquet file, a batch at a time."""
    try:
        with FileSystems.open(path, compression_type="uncompressed") as handle:
            parquet = pq.ParquetFile(handle)
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=list(columns)):
                yield from batch.to_pylist()
    except (OSError, pa.ArrowException) as error:
        # Dedup against a partly read store would be wrong: stop, naming the file.
        raise CorruptStoredFile(path, error) from error


class ReadStoredKeys(beam.PTransform):
    """output_dir -> key rows of one stored table (columns: `columns`)."""

    def __init__(self, output_dir: str, table, columns):
        super().__init__()
        self.output_dir, self.table, self.columns = output_dir, table, columns

    def expand(self, pbegin):
        return (
            pbegin
            | "OutputDir" >> beam.Create([self.output_dir])
            | "ListStored" >> beam.FlatMap(stored_files, self.table.name)
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadKeys" >> beam.FlatMap(read_key_rows, self.columns)
        )


def stored_article_ids(pbegin, output_dir: str):
    return pbegin | "StoredArticleIds" >> ReadStoredKeys(output_dir, ARTICLES, ARTICLE_KEY_COLUMNS)


def stored_signatures(pbegin, output_dir: str):
    return (
        pbegin
        | "StoredSignatures" >> ReadStoredKeys(output_dir, SIGNATURES, SIGNATURE_COLUMNS)
        | "CompactSignatures" >> beam.Map(compact_signature)
    )


def stored_reject_keys(pbegin, output_dir: str):
    return pbegin | "StoredRejectKeys" >> ReadStoredKeys(output_dir, REJECTS, REJECT_KEY_COLUMNS)


def stored_rows(output_dir: str, table_name: str, columns) -> list[dict]:
    """All rows of a small stored table, read where the pipeline is built (feed state)."""
    return [row for path in stored_files(output_dir, table_name) for row in read_key_rows(path, columns)]
