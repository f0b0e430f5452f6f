"""Candidate pairs packed and verified per pair of id shards (transforms/dedup/pairs.py)."""

import numpy as np
from test_near_duplicates import BASE, EXPECTED, article, corpus

from transforms.dedup import near_duplicates as nd
from transforms.dedup import pairs as pr
from transforms.dedup.pending import STORED_PREFIX, pending_records, pending_row, stored_pending_row, write_pending

HEX_IDS = ["00000000000000a0", "ffffffffffffffff", "0123456789abcdef", "a000000000000000"]


def test_pair_blocks_round_trip_hex_and_text_ids():
    for ids in (HEX_IDS, ["orig", "a longer id", "é", "x"]):
        pairs = [(a, b) for a in ids for b in ids if a < b]
        seen = []
        for group, packed in pr.pair_blocks(pairs, shards=3):
            block = pr.PairBlock.unpack(packed)
            assert block.hex_ids == (ids is HEX_IDS)
            assert all(pr.group_key(pair, 3) == group for pair in block.pairs())
            seen += block.pairs()
        # every pair comes back once, ids with trailing zero bytes included
        assert sorted(seen) == sorted(pairs)


def test_distinct_pairs_of_a_group_come_once():
    pairs = [(HEX_IDS[0], HEX_IDS[1]), (HEX_IDS[2], HEX_IDS[3])]
    blocks = [pr.PairBlock.of(pairs).pack(), pr.PairBlock.of(pairs[:1]).pack(), pr.PairBlock.of([]).pack()]
    assert pr.distinct_pairs(blocks) == sorted(pairs)
    text = [("a", "b"), ("a", "c")]
    assert pr.distinct_pairs([pr.PairBlock.of(text).pack(), pr.PairBlock.of(text + pairs).pack()]) == sorted(
        text + pairs
    )
    assert pr.distinct_pairs([]) == []


def _verified_by_groups(new_articles, stored_rows, folder):
    """Edges as the Beam path finds them: band blocks -> pairs per band shard -> pair
    blocks per id-shard group -> each group's records from its two shards' files."""
    keys = [nd.article_key(a) for a in new_articles]
    members = [(k["article_id"], False, nd.signature_band_keys(k)) for k in keys]
    members += [(r["article_id"], True, nd.signature_band_keys(r)) for r in stored_rows]
    by_band_shard: dict = {}
    for shard, packed in nd.band_blocks(members):
        by_band_shard.setdefault(shard, []).append(packed)
    by_group: dict = {}
    stored_wanted: set = set()
    for packed in by_band_shard.values():
        pairs, stored, _ = nd.shard_candidate_pairs(packed)
        stored_wanted |= stored
        for group, block in pr.pair_blocks(pairs):
            by_group.setdefault(group, []).append(block)
    paths = write_pending(folder, [pending_row(k) for k in keys])
    stored_rows = [stored_pending_row(r) for r in stored_rows if r["article_id"] in stored_wanted]
    paths += write_pending(folder, stored_rows, STORED_PREFIX) if stored_rows else []
    edges = []
    for group, blocks in by_group.items():
        pairs = pr.distinct_pairs(blocks)
        records = pr.group_records(paths, group, {i for pair in pairs for i in pair}, pending_records)
        edges += pr.verified_edges(pairs, records, nd.DEFAULT_THRESHOLD, nd.DEFAULT_MIN_JACCARD)
    return edges


def test_groups_verify_what_the_reference_path_verifies(tmp_path):
    arts = corpus()
    assert nd.resolve_winners(_verified_by_groups(arts, [], str(tmp_path))) == EXPECTED == nd.find_near_duplicates(arts)


def test_groups_read_stored_records_from_their_staged_files(tmp_path):
    arts = corpus()
    stored = [nd.signature_row(a, run_id="r0") for a in arts if a["article_id"] == "orig"]
    new = [dict(a, article_id=a["article_id"] + "_new") for a in arts if a["article_id"] != "orig"]
    edges = _verified_by_groups(new, stored, str(tmp_path))
    assert any(meta[1] for edge in edges for meta in edge)  # a stored record was read, as stored
    assert nd.resolve_winners(edges) == nd.find_near_duplicates(new, existing=stored)


def test_a_new_record_is_kept_over_a_stored_one_with_its_id(tmp_path):
    text_article = article("aaaaaaaaaaaaaaaa", BASE)
    new = pending_row(nd.article_key(text_article))
    stored = stored_pending_row(nd.signature_row(text_article, run_id="r0"))
    paths = write_pending(str(tmp_path), [stored], STORED_PREFIX) + write_pending(str(tmp_path), [new])
    shard = pr.id_shard(text_article["article_id"])
    (record,) = pr.group_records(paths, (shard, shard), {text_article["article_id"]}, pending_records).values()
    assert not record.existing
    assert pr.group_records(paths, ((shard + 1) % pr.ID_SHARDS,) * 2, {"aaaaaaaaaaaaaaaa"}, pending_records) == {}


def test_pairs_of_many_articles_stay_16_bytes_each():
    rng = np.random.default_rng(3)
    ids = [f"{n:016x}" for n in rng.integers(0, 2**63, 2000)]
    pairs = [(ids[i], ids[i + 1]) for i in range(0, 1998, 2)]
    packed = pr.pair_blocks(pairs)
    assert sum(len(block) - 24 for _, block in packed) == 16 * len(pairs)
