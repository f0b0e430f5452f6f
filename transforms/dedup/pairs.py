"""Near-duplicate candidate pairs, verified per pair of id shards.

A candidate pair carries two article ids and nothing else. Pairs are packed into
numpy blocks (PairBlock: 16 bytes a pair with hex ids) and grouped by the id shards
of their two members; the worker that verifies a group reads the records of just
those two shards from files: new articles' from the pending files
(transforms/dedup/pending.py, written sharded by id), stored articles' from files
the run stages for the stored members of pairs alone. So no shuffle carries a
record per pair, and the local runner's coordinator holds the pairs at 16 bytes
each (the bench corpus makes about 4.4 candidate pairs an article).

Pure functions first (tested without Beam), then the Beam composite (VerifyAndMark).
"""

from __future__ import annotations

from dataclasses import dataclass

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from transforms.dedup.near_duplicates import (
    BandBlock,
    UnionFind,
    choose_winner,
    id_of,
    mark_loser,
    pack_ids,
    shard_candidate_pairs,
    verify,
)
from transforms.dedup.pending import ID_SHARDS, file_shard, id_shard, pending_records
from transforms.metrics import NAMESPACE


@dataclass(frozen=True)
class PairBlock:
    """Candidate pairs (first[i], second[i]) with ids packed as near_duplicates.pack_ids."""

    first: np.ndarray
    second: np.ndarray
    hex_ids: bool

    @classmethod
    def of(cls, pairs: list) -> PairBlock:
        ids, hex_ids = pack_ids([article_id for pair in pairs for article_id in pair])
        return cls(ids[0::2], ids[1::2], hex_ids)

    def pairs(self) -> list:
        return [(id_of(a, self.hex_ids), id_of(b, self.hex_ids)) for a, b in zip(self.first, self.second)]

    @staticmethod
    def length(data: bytes) -> int:
        """The number of pairs in a packed block, read from its header."""
        return int(np.frombuffer(data, dtype="<i8", count=1)[0])

    def pack(self) -> bytes:
        header = np.array([len(self.first), self.first.dtype.itemsize, int(self.hex_ids)], dtype="<i8")
        return b"".join((header.tobytes(), self.first.tobytes(), self.second.tobytes()))

    @classmethod
    def unpack(cls, data: bytes) -> PairBlock:
        n, width, hex_ids = np.frombuffer(data, dtype="<i8", count=3).tolist()
        first = np.frombuffer(data, dtype=f"S{width}", count=n, offset=24)
        second = np.frombuffer(data, dtype=f"S{width}", count=n, offset=24 + width * n)
        return cls(first, second, bool(hex_ids))


def group_key(pair: tuple, shards: int = ID_SHARDS) -> tuple[int, int]:
    """The group of a pair: the id shards of its two members, smaller first."""
    a, b = id_shard(pair[0], shards), id_shard(pair[1], shards)
    return (a, b) if a <= b else (b, a)


def pair_blocks(pairs: list, shards: int = ID_SHARDS) -> list:
    """((shard, shard), packed PairBlock) for candidate pairs, one block per group."""
    groups: dict = {}
    for pair in pairs:
        groups.setdefault(group_key(pair, shards), []).append(pair)
    return [(key, PairBlock.of(members).pack()) for key, members in sorted(groups.items())]


def _rows(block: PairBlock) -> np.ndarray:
    """One fixed-width void value per pair (both ids' bytes), for numpy's unique."""
    width = block.first.dtype.itemsize
    both = np.hstack([block.first.view(np.uint8).reshape(-1, width), block.second.view(np.uint8).reshape(-1, width)])
    return np.ascontiguousarray(both).view(f"V{2 * width}").ravel()


def distinct_pairs(packed_blocks) -> list:
    """The distinct pairs of one group's packed blocks (a pair shares several bands)."""
    blocks = [PairBlock.unpack(data) for data in packed_blocks]
    blocks = [block for block in blocks if len(block.first)]
    if not blocks:
        return []
    if all(block.hex_ids for block in blocks):  # the usual case: sorted and deduplicated in numpy
        unique = np.unique(np.concatenate([_rows(block) for block in blocks]))
        halves = unique.view(np.uint8).reshape(-1, 16)
        first = np.ascontiguousarray(halves[:, :8]).view("S8").ravel()
        second = np.ascontiguousarray(halves[:, 8:]).view("S8").ravel()
        return PairBlock(first, second, True).pairs()
    return sorted({pair for block in blocks for pair in block.pairs()})


def group_records(paths: list, group: tuple[int, int], wanted: set, read_records) -> dict:
    """{article_id: Record} of the wanted ids in the records files of a group's two
    shards. read_records(path, wanted) yields a file's Records; a new article's record
    is kept over a stored one with its id (the stored one is then being written again)."""
    records: dict = {}
    for path in paths:
        if file_shard(path) not in group:
            continue
        for record in read_records(path, wanted):
            held = records.get(record.article_id)
            if held is None or (held.existing and not record.existing):
                records[record.article_id] = record
    return records


def verified_edges(pairs: list, records: dict, threshold: float, min_jaccard: float):
    """(meta a, meta b) of each candidate pair whose texts verify as near duplicates."""
    for a, b in pairs:
        rec_a, rec_b = records.get(a), records.get(b)
        if rec_a is not None and rec_b is not None and verify(rec_a, rec_b, threshold, min_jaccard):
            yield rec_a.meta, rec_b.meta


# ---------------------------------------------------------------------------
# Beam


STORED_IN_PAIRS = "stored_in_pairs"


class ComponentsFn(beam.CombineFn):
    """Union-find over verified edges, combinable across workers.
    Accumulator: (parent dict, meta dict); output {loser: winner}.
    Its size is the number of near-duplicate articles, not all articles."""

    def create_accumulator(self):
        return ({}, {})

    def add_input(self, acc, edge):
        parent, metas = acc
        uf = UnionFind()
        uf.parent = parent
        ma, mb = edge
        metas[ma[0]] = ma
        metas[mb[0]] = mb
        uf.union(ma[0], mb[0])
        return acc

    def merge_accumulators(self, accs):
        accs = list(accs)
        parent, metas = accs[0]
        uf = UnionFind()
        uf.parent = parent
        for p, m in accs[1:]:
            metas.update(m)
            for node, par in p.items():
                uf.union(node, par)
        return (parent, metas)

    def extract_output(self, acc):
        parent, metas = acc
        uf = UnionFind()
        uf.parent = parent
        comps = {}
        for node in list(parent):
            comps.setdefault(uf.find(node), []).append(node)
        out = {}
        for comp in comps.values():
            winner = choose_winner(metas[i] for i in comp)[0]
            for i in comp:
                if i != winner and not metas[i][1]:
                    out[i] = winner
        return out


class ShardCandidatesFn(beam.DoFn):
    """(band shard, packed band blocks) -> ((id shard, id shard), packed PairBlock) of
    its candidate pairs, and (tagged STORED_IN_PAIRS) the stored ids among them. The
    size of each shard's largest band bucket goes to the `largest_band_bucket`
    distribution (its max is the run's), the pairs (one per band two articles share)
    to the `candidate_pairs` counter, and the band entries received to
    `band_entries_paired` (checked against those packed: pipeline/integrity.py)."""

    def setup(self):
        self.largest = Metrics.distribution(NAMESPACE, "largest_band_bucket")
        self.pairs = Metrics.counter(NAMESPACE, "candidate_pairs")
        self.entries = Metrics.counter(NAMESPACE, "band_entries_paired")

    def process(self, shard_blocks):
        self.entries.inc(sum(BandBlock.entries(data) for data in shard_blocks[1]))
        pairs, stored, largest = shard_candidate_pairs(shard_blocks[1])
        self.largest.update(largest)
        self.pairs.inc(len(pairs))
        yield from pair_blocks(pairs)
        for article_id in sorted(stored):
            yield beam.pvalue.TaggedOutput(STORED_IN_PAIRS, article_id)


class CandidatePairs(beam.PTransform):
    """Packed band blocks (near_duplicates.PackBandEntriesFn) -> (packed pair blocks
    keyed by their id shards, stored ids in pairs)."""

    def expand(self, blocks):
        found = (
            blocks
            | "GroupByBandShard" >> beam.GroupByKey()
            | "CandidatePairs" >> beam.ParDo(ShardCandidatesFn()).with_outputs(STORED_IN_PAIRS, main="pairs")
        )
        return found.pairs, found[STORED_IN_PAIRS]


class VerifyGroupFn(beam.DoFn):
    """((id shard, id shard), packed pair blocks) -> verified edges (meta a, meta b),
    the records read from the pending files of the two shards (side input: their paths).
    The pairs received go to `candidate_pairs_verified` (checked against
    `candidate_pairs`: pipeline/integrity.py), their members whose record no file
    holds to `pair_members_unread` (checked to be 0: such a pair would go unverified)."""

    def __init__(self, threshold: float, min_jaccard: float):
        self.threshold, self.min_jaccard = threshold, min_jaccard

    def setup(self):
        self.received = Metrics.counter(NAMESPACE, "candidate_pairs_verified")
        self.unread = Metrics.counter(NAMESPACE, "pair_members_unread")

    def process(self, group_blocks, paths):
        group, blocks = group_blocks
        self.received.inc(sum(PairBlock.length(data) for data in blocks))
        pairs = distinct_pairs(blocks)
        wanted = {article_id for pair in pairs for article_id in pair}
        records = group_records(paths, group, wanted, pending_records)
        self.unread.inc(len(wanted - records.keys()))
        yield from verified_edges(pairs, records, self.threshold, self.min_jaccard)


def _kept_edge(edge, excluded) -> bool:
    """An edge whose new articles all stay winners of the exact steps."""
    return not any(not meta[1] and meta[0] in excluded for meta in edge)


class VerifyAndMark(beam.PTransform):
    """(rows, packed pair blocks, record paths) -> the rows, near-duplicate losers marked.

    record_paths: the pending files holding the records of (at least) every article
    in a pair, new and stored; excluded: optional side input of new article ids that
    are not to be matched (exact duplicates and skipped rows, whose band keys were
    packed with the rest).
    """

    def __init__(self, pairs, record_paths, threshold: float, min_jaccard: float, excluded=None):
        super().__init__()
        self.pairs, self.record_paths, self.excluded = pairs, record_paths, excluded
        self.threshold, self.min_jaccard = threshold, min_jaccard

    def expand(self, rows):
        edges = (
            self.pairs
            | "GroupByIdShards" >> beam.GroupByKey()
            | "Verify"
            >> beam.ParDo(VerifyGroupFn(self.threshold, self.min_jaccard), beam.pvalue.AsList(self.record_paths))
        )
        if self.excluded is not None:
            edges = edges | "WithoutExcluded" >> beam.Filter(_kept_edge, self.excluded)
        losers = (
            edges
            | "Components" >> beam.CombineGlobally(ComponentsFn())
            | "LoserWinner" >> beam.FlatMap(lambda d: sorted(d.items()))
        )
        return rows | "MarkLosers" >> beam.Map(mark_loser, beam.pvalue.AsDict(losers))
