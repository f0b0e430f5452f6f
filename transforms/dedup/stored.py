"""What earlier runs stored under the output directory: compact keys only.

Only committed files count (transforms/sinks/commit.py): files of a run that died
before its commit are never "already stored". Read as a PCollection (one element
per Parquet file, streamed in batches), so a million stored articles never have
to fit in one worker's memory.

Stored rows are semi-joined on the run's own keys (NewKeys, a side input) where they
are read: only the stored ids, content hashes, URLs and band keys that a new article
shares can change a decision, so a run after a million stored articles shuffles the
few it could match instead of all of them.
"""

import hashlib
from dataclasses import dataclass

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

from schemas.tables import ARTICLES, PARTITION_COLUMN, REJECTS, SIGNATURES
from transforms.dedup.near_duplicates import (
    BANDS,
    KeyFilter,
    compact_signature,
    in_sorted,
    signature_band_keys,
    sorted_unique,
)
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


def key_digest(value: str) -> int:
    """8 bytes of blake2b of a key (an id, content hash or URL), as an int."""
    return int.from_bytes(hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def digests_of(values) -> np.ndarray:
    """The key_digest of each value, aligned (0 for none)."""
    return np.array([key_digest(v) if v else 0 for v in values], dtype=np.uint64)


def key_digests(values) -> np.ndarray:
    """The key digests of the values that are set, sorted and unique."""
    return sorted_unique(digests_of([v for v in values if v]))


@dataclass
class NewKeys:
    """The keys a run's new articles could share with stored rows: digests (key_digests)
    of their ids, content hashes and canonical URLs, each sorted, and a filter of their
    band keys. A digest that collides, or a band key the filter lets pass, only lets
    one more stored row through to the exact join."""

    ids: np.ndarray
    content_hashes: np.ndarray
    urls: np.ndarray
    band_keys: KeyFilter

    def stored_ids_mask(self, batch: pa.RecordBatch) -> np.ndarray:
        """Stored rows whose article id is among `ids` (a new article's, or IdKeysFn's)."""
        return in_sorted(self.ids, digests_of(batch.column("article_id").to_pylist()))

    def stored_signatures_mask(self, batch: pa.RecordBatch) -> np.ndarray:
        """Stored signatures that share an id, content hash, URL or band key with a new
        article. One whose band keys are of other bands is kept: its keys are made from
        its MinHash later (near_duplicates.signature_band_keys); one with none (too short
        to match) is not."""
        mask = in_sorted(self.ids, digests_of(batch.column("article_id").to_pylist()))
        mask |= in_sorted(self.content_hashes, digests_of(batch.column("content_hash").to_pylist()))
        mask |= in_sorted(self.urls, digests_of(batch.column("canonical_url").to_pylist()))
        keys = batch.column("band_keys")
        lengths = pc.fill_null(pc.list_value_length(keys), -1).to_numpy(zero_copy_only=False)
        mask |= (lengths != BANDS) & (lengths != 0)
        values = pc.list_flatten(keys).to_numpy(zero_copy_only=False).astype(np.int64)
        shared = self.band_keys.contains(values)
        if shared.any():
            rows = pc.list_parent_indices(keys).to_numpy(zero_copy_only=False)
            mask[rows[shared]] = True
        return mask


def shares_content(row: dict, new_keys: NewKeys) -> bool:
    """A stored row whose content hash a new article has."""
    return bool(in_sorted(new_keys.content_hashes, digests_of([row.get("content_hash")]))[0])


def shares_url(row: dict, new_keys: NewKeys) -> bool:
    """A stored row whose canonical URL a new article has."""
    return bool(in_sorted(new_keys.urls, digests_of([row.get("canonical_url")]))[0])


@dataclass
class KeyArrays:
    """NewKeys with the band keys themselves, sorted (int64), so that parts merge
    exactly; the filter is made once, at the end (NewKeysFn)."""

    ids: np.ndarray
    content_hashes: np.ndarray
    urls: np.ndarray
    band_keys: np.ndarray


def key_arrays_of(rows) -> KeyArrays:
    """The compact keys of some key rows (near_duplicates.article_key)."""
    ids, contents, urls, bands = [], [], [], []
    for row in rows:
        ids.append(row["article_id"])
        contents.append(row.get("content_hash"))
        urls.append(row.get("canonical_url"))
        bands.append(np.asarray(signature_band_keys(row), dtype=np.int64))
    band_keys = sorted_unique(np.concatenate(bands)) if bands else np.array([], dtype=np.int64)
    return KeyArrays(key_digests(ids), key_digests(contents), key_digests(urls), band_keys)


def merge_key_arrays(parts) -> KeyArrays:
    """One KeyArrays of several: each array the sorted union of theirs."""
    parts = list(parts)
    if not parts:
        return key_arrays_of([])
    return KeyArrays(
        *(sorted_unique(np.concatenate([getattr(part, name) for part in parts])) for name in NEW_KEY_ARRAYS)
    )


class PackNewKeysFn(beam.DoFn):
    """Key rows -> their KeyArrays, one per bundle and every `pack_rows` rows. Packed
    where the rows are, the combine after it moves a few arrays instead of every key
    row: a runner that does not lift combiners (Flink behind a job server,
    pipeline/runners.py) would otherwise group a chunk's whole key rows, sketches and
    all, as one record (about 0.5 GB on the Java heap for 113k articles). A part stays
    well under 1 MB (about 360 bytes a row): Flink's combiner before a grouping sorts
    each record in a buffer of its own share of managed memory (2.3 MB on the test
    cluster) and fails on a larger one.

    Not Beam's BatchElements: with it in the graph, the local runner with two workers
    lost one worker's stored band entries on the way to candidate pairing in 5 of 11
    runs of a 113k-article chunk over a 203k-article store (up to half of the
    cross-run near duplicates missed, silently); with this DoFn, 0 of 10."""

    def __init__(self, pack_rows: int = 2_000):
        self.pack_rows = pack_rows

    def start_bundle(self):
        self.rows = []

    def process(self, row):
        self.rows.append(row)
        if len(self.rows) >= self.pack_rows:
            yield self.pack()

    def pack(self) -> KeyArrays:
        part, self.rows = key_arrays_of(self.rows), []
        return part

    def finish_bundle(self):
        if self.rows:
            yield GlobalWindows.windowed_value(self.pack())


class NewKeysFn(beam.CombineFn):
    """KeyArrays (PackNewKeysFn's) -> the NewKeys of them all."""

    def create_accumulator(self):
        return []

    def add_input(self, accumulator, part: KeyArrays):
        accumulator.append(part)
        return accumulator

    def merge_accumulators(self, accumulators):
        return [merge_key_arrays(part for accumulator in accumulators for part in accumulator)]

    def compact(self, accumulator):
        return [merge_key_arrays(accumulator)]

    def extract_output(self, accumulator) -> NewKeys:
        keys = merge_key_arrays(accumulator)
        return NewKeys(keys.ids, keys.content_hashes, keys.urls, KeyFilter.of(keys.band_keys))


class NewKeysOf(beam.PTransform):
    """Key rows -> a singleton PCollection of their NewKeys."""

    def expand(self, key_rows):
        return key_rows | "PackPerBundle" >> beam.ParDo(PackNewKeysFn()) | "Merge" >> beam.CombineGlobally(NewKeysFn())


NEW_KEY_ARRAYS = ("ids", "content_hashes", "urls", "band_keys")


class IdKeysFn(beam.CombineFn):
    """Article ids -> NewKeys of their digests only (its stored_ids_mask keeps those ids)."""

    def create_accumulator(self):
        return []

    def add_input(self, accumulator, article_id):
        accumulator.append(key_digest(article_id))
        return accumulator

    def merge_accumulators(self, accumulators):
        return [digest for accumulator in accumulators for digest in accumulator]

    def extract_output(self, accumulator):
        none = np.array([], dtype=np.uint64)
        return NewKeys(sorted_unique(np.array(accumulator, dtype=np.uint64)), none, none, KeyFilter.of([]))


def read_key_rows(path: str, columns, new_keys=None, mask_name: str | None = None):
    """Yield the rows of `columns` of one Parquet file, a batch at a time; with new_keys,
    only the rows its method `mask_name` keeps (NewKeys)."""
    try:
        with FileSystems.open(path, compression_type="uncompressed") as handle:
            parquet = pq.ParquetFile(handle)
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=list(columns)):
                if new_keys is not None and mask_name:
                    batch = batch.filter(pa.array(getattr(new_keys, mask_name)(batch)))
                yield from batch.to_pylist()
    except (OSError, pa.ArrowException) as error:
        # Dedup against a partly read store would be wrong: stop, naming the file.
        raise CorruptStoredFile(path, error) from error


class ReadStoredKeys(beam.PTransform):
    """output_dir -> key rows of one stored table (columns: `columns`); with new_keys (a
    singleton PCollection of NewKeys), only the rows its method `mask_name` keeps."""

    def __init__(self, output_dir: str, table, columns, new_keys=None, mask_name: str | None = None):
        super().__init__()
        self.output_dir, self.table, self.columns = output_dir, table, columns
        self.new_keys, self.mask_name = new_keys, mask_name

    def expand(self, pbegin):
        files = (
            pbegin
            | "OutputDir" >> beam.Create([self.output_dir])
            | "ListStored" >> beam.FlatMap(stored_files, self.table.name)
            | "SpreadFiles" >> beam.Reshuffle()
        )
        if self.new_keys is None:
            return files | "ReadKeys" >> beam.FlatMap(read_key_rows, self.columns)
        return files | "ReadKeys" >> beam.FlatMap(
            read_key_rows, self.columns, beam.pvalue.AsSingleton(self.new_keys), self.mask_name
        )


def stored_article_ids(pbegin, output_dir: str, new_keys=None):
    """Stored article ids (those new_keys names, when given)."""
    return pbegin | "StoredArticleIds" >> ReadStoredKeys(
        output_dir, ARTICLES, ARTICLE_KEY_COLUMNS, new_keys, "stored_ids_mask"
    )


def stored_signatures(pbegin, output_dir: str, new_keys=None):
    """Stored signatures, compact (those that share a key with new_keys, when given)."""
    return (
        pbegin
        | "StoredSignatures"
        >> ReadStoredKeys(output_dir, SIGNATURES, SIGNATURE_COLUMNS, new_keys, "stored_signatures_mask")
        | "CompactSignatures" >> beam.Map(compact_signature)
    )


class RowsWithIds(beam.PTransform):
    """Article ids -> the rows of `rows` (a PCollection of stored signatures already read)
    with those ids: StoredSignaturesWithIds for stored rows given as a PCollection."""

    def __init__(self, rows):
        super().__init__()
        self.rows = rows

    def expand(self, article_ids):
        wanted = beam.pvalue.AsDict(article_ids | "IdKeys" >> beam.Map(lambda article_id: (article_id, True)))
        return self.rows | "WithWantedIds" >> beam.Filter(lambda row, ids: row["article_id"] in ids, wanted)


class StoredSignaturesWithIds(beam.PTransform):
    """Article ids -> the stored signatures (compact) of those ids, read again from the
    store. Deduplicate takes the stored members of candidate pairs this way: read once
    and filtered by a side input computed from them, the stored signatures would be
    held whole in the local runner's memory until the pairs are known."""

    def __init__(self, output_dir: str):
        super().__init__()
        self.output_dir = output_dir

    def expand(self, article_ids):
        wanted = article_ids | "WantedIds" >> beam.CombineGlobally(IdKeysFn())
        return (
            article_ids.pipeline
            | "ReadWanted" >> ReadStoredKeys(self.output_dir, SIGNATURES, SIGNATURE_COLUMNS, wanted, "stored_ids_mask")
            | "CompactWanted" >> beam.Map(compact_signature)
        )


def has_stored(output_dir: str) -> bool:
    """Whether earlier runs committed articles or signatures under output_dir."""
    return bool(stored_files(output_dir, ARTICLES.name) or stored_files(output_dir, SIGNATURES.name))


def stored_reject_keys(pbegin, output_dir: str):
    return pbegin | "StoredRejectKeys" >> ReadStoredKeys(output_dir, REJECTS, REJECT_KEY_COLUMNS)


def stored_rows(output_dir: str, table_name: str, columns) -> list[dict]:
    """All rows of a small stored table, read where the pipeline is built (feed state)."""
    return [row for path in stored_files(output_dir, table_name) for row in read_key_rows(path, columns)]
