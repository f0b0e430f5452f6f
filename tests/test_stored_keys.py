"""Stored rows semi-joined on a run's own keys (transforms/dedup/stored.py: NewKeys)."""

import pickle

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st
from test_near_duplicates import BASE, article, corpus, paragraphs

from schemas.tables import SIGNATURES
from transforms.dedup import near_duplicates as nd
from transforms.dedup.stored import SIGNATURE_COLUMNS, IdKeysFn, NewKeysFn, NewKeysOf, key_arrays_of, read_key_rows


def new_keys_of(articles):
    combine = NewKeysFn()
    rows = [nd.article_key(art) for art in articles]
    halves = [combine.create_accumulator(), combine.create_accumulator()]
    for n in range(4):  # four bundles' parts in two workers' accumulators, merged
        combine.add_input(halves[n % 2], key_arrays_of(rows[n::4]))
    return combine.extract_output(combine.merge_accumulators([combine.compact(half) for half in halves]))


def stored_file(tmp_path, rows) -> str:
    path = str(tmp_path / "signatures.parquet")
    pq.write_table(pa.Table.from_pylist(rows, schema=SIGNATURES.schema), path)
    return path


def signature(art, **changes):
    return {**nd.signature_row(art, run_id="r0", date="2026-03-01"), **changes}


def test_stored_signatures_kept_are_those_a_new_article_could_match(tmp_path):
    new = [article("n1", BASE, canonical_url="https://x.org/a", content_hash="h1")]
    unrelated = [article(f"u{n}", paragraphs(200 + n, 8)) for n in range(20)]
    stored = [
        signature(new[0]),  # its own id
        signature(unrelated[0], content_hash="h1"),  # the same text
        signature(unrelated[1], canonical_url="https://x.org/a"),  # the same URL
        signature(article("near", BASE[:7])),  # a near copy: shares band keys
        signature(unrelated[2], band_keys=[7] * 21),  # keys of other bands: made from its MinHash later
        signature(unrelated[3], band_keys=[], shingle_count=3),  # too short to match anything
        *(signature(art) for art in unrelated[3:]),  # nothing in common
    ]
    path = stored_file(tmp_path, stored)
    kept = [
        row["article_id"] for row in read_key_rows(path, SIGNATURE_COLUMNS, new_keys_of(new), "stored_signatures_mask")
    ]
    assert kept == ["n1", "u0", "u1", "near", "u2"]
    assert len(list(read_key_rows(path, SIGNATURE_COLUMNS))) == len(stored)  # without keys: every row


def test_near_duplicates_against_the_kept_rows_are_those_against_all(tmp_path):
    """The semi-join changes no decision: every stored row in a bucket with a new one is kept."""
    arts = corpus()
    stored_arts = [a for a in arts if a["article_id"] in ("orig", "other")]
    stored_arts += [article(f"s{n}", paragraphs(300 + n, 8)) for n in range(30)]
    new = [dict(a, article_id=a["article_id"] + "_new") for a in arts if a["article_id"] not in ("orig", "other")]
    stored = [signature(a) for a in stored_arts]
    path = stored_file(tmp_path, stored)
    kept = list(read_key_rows(path, SIGNATURE_COLUMNS, new_keys_of(new), "stored_signatures_mask"))
    assert len(kept) < len(stored)
    expected = nd.find_near_duplicates(new, existing=stored)
    assert expected and nd.find_near_duplicates(new, existing=kept) == expected


def test_stored_ids_kept_are_the_new_ones(tmp_path):
    path = str(tmp_path / "articles.parquet")
    pq.write_table(pa.table({"article_id": [f"{n:016x}" for n in range(50)]}), path)
    keys = new_keys_of([article(f"{n:016x}", BASE) for n in (3, 7, 99)])
    kept = [row["article_id"] for row in read_key_rows(path, ("article_id",), keys, "stored_ids_mask")]
    assert kept == [f"{3:016x}", f"{7:016x}"]


def test_stored_members_of_pairs_are_read_again_by_id(tmp_path):
    """What StoredSignaturesWithIds reads for the ids it is given (the stored members of
    candidate pairs): with IdKeysFn's keys, those rows, whole, and no other. (Its Beam
    wiring runs in the cross-run and chunked end-to-end tests.)"""
    arts = [article(f"s{n}", paragraphs(400 + n, 8)) for n in range(12)]
    path = stored_file(tmp_path, [signature(art) for art in arts])
    combine = IdKeysFn()
    halves = [combine.create_accumulator(), combine.create_accumulator()]
    for n, article_id in enumerate(["s3", "s9", "s3", "absent"]):  # an id may come from several shards
        combine.add_input(halves[n % 2], article_id)
    keys = combine.extract_output(combine.merge_accumulators(halves))
    kept = list(read_key_rows(path, SIGNATURE_COLUMNS, keys, "stored_ids_mask"))
    assert [row["article_id"] for row in kept] == ["s3", "s9"]
    assert kept == [row for row in read_key_rows(path, SIGNATURE_COLUMNS) if row["article_id"] in ("s3", "s9")]


def test_band_key_filter_keeps_every_key_and_lets_few_others_pass():
    """NewKeys holds the new articles' band keys as a KeyFilter (a numpy Bloom filter):
    no key it was built from may be missed (that would lose a near duplicate), and
    others pass rarely (each only lets a stored row through to the exact steps)."""
    rng = np.random.default_rng(5)
    keys = rng.integers(-(2**63), 2**63 - 1, 200_000, dtype=np.int64)
    band_filter = nd.KeyFilter.of(keys)
    assert band_filter.contains(keys).all()
    assert 10 <= band_filter.bits.size * 8 / len(keys) <= 20  # bits a key: 8 MB for a 113k-article chunk
    others = rng.integers(-(2**63), 2**63 - 1, 1_000_000, dtype=np.int64)
    assert band_filter.contains(others).mean() < 0.01  # 0.8 % at 10 bits a key, its fewest
    again = nd.KeyFilter.of(keys[::-1])  # the same in every worker and run, whatever the order
    assert again.log2_size == band_filter.log2_size and np.array_equal(again.bits, band_filter.bits)
    assert not nd.KeyFilter.of([]).contains(keys[:100]).any()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=300), st.lists(st.integers(-(2**63), 2**63 - 1)))
def test_band_key_filter_never_misses_a_key(keys, others):
    band_filter = nd.KeyFilter.of(keys)
    assert band_filter.contains(keys).all()
    assert band_filter.contains(keys + others)[: len(keys)].all()


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([np.int64, np.uint64, np.uint32]),
    st.lists(st.integers(0, 2**32 - 1), max_size=400),
    st.integers(0, 2**32 - 1),
)
def test_sorted_unique_is_numpys_unique(dtype, values, offset):
    """The key arrays, shingle hashes and shards are made unique by sorting
    (nd.sorted_unique); it must give np.unique's values and dtype exactly, with
    repeats and without, for every dtype they come in."""
    array = (np.array(values, dtype=np.uint64) * np.uint64(offset | 1)).astype(dtype)  # repeats kept, values spread
    unique = nd.sorted_unique(array)
    assert unique.dtype == array.dtype
    assert np.array_equal(unique, np.unique(array))


def test_new_keys_are_packed_per_bundle_and_merge_to_those_of_all_rows():
    """NewKeysOf packs key rows into KeyArrays where they are (PackNewKeysFn, at most
    `pack_rows` rows a part) and merges the parts: the same NewKeys as of all rows at
    once, and the combine sees parts, not key rows."""
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from transforms.dedup.stored import NEW_KEY_ARRAYS, PackNewKeysFn, merge_key_arrays

    arts = corpus() + [article(f"u{n}", paragraphs(400 + n, 6)) for n in range(25)]
    rows = [nd.article_key(art) for art in arts]
    whole = key_arrays_of(rows)
    packer = PackNewKeysFn(pack_rows=10)
    packer.start_bundle()
    parts = [part for row in rows for part in packer.process(row)]
    parts += [windowed.value for windowed in packer.finish_bundle()]
    assert len(parts) == -(-len(rows) // 10)
    assert sum(len(part.ids) for part in parts) == len(rows)  # every row in exactly one part
    merged = merge_key_arrays(parts)
    for name in NEW_KEY_ARRAYS:
        assert np.array_equal(getattr(merged, name), getattr(whole, name)), name
    assert len(whole.band_keys) > len(rows)  # band keys of many bands, not one a row
    # A default part, at this many bytes a row, is under 1 MB: what reaches Flink's
    # combiner before a grouping must fit its sort buffer (2.3 MB on the test cluster).
    row_bytes = len(pickle.dumps(whole)) / len(rows)
    assert row_bytes * PackNewKeysFn().pack_rows < 1_000_000

    def summary(keys):
        return (keys.ids.tolist(), keys.content_hashes.tolist(), keys.urls.tolist(), keys.band_keys.bits.tobytes())

    expected = NewKeysFn().extract_output([whole])
    with TestPipeline(runner="DirectRunner") as p:
        new_keys = p | beam.Create(rows, reshuffle=True) | "NewKeys" >> NewKeysOf()
        assert_that(new_keys | beam.Map(summary), equal_to([summary(expected)]))
