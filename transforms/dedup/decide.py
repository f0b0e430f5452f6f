"""Deduplicate: skip what earlier runs stored, then same content, same URL
(duplicate or revision), near-duplicate text.

It works on key rows (`near_duplicates.article_key`: ids, URL, hash, dates and
the text's signature, no text). Beam's local runner holds every shuffle in the
coordinator's memory, so the shuffles carry as little as possible: slim key rows
(pending.SLIM_FIELDS) through the exact steps, band keys and candidate pairs in
packed blocks (transforms/dedup/pairs.py). Each article's signature (sketch and
MinHash) waits in a pending file (transforms/dedup/pending.py), sharded by id, and
is read back by the workers that need it: those verifying candidate pairs, per
pair of id shards, and those comparing the texts of articles sharing a URL. The
decisions are then applied to the articles themselves (ApplyDecisions), as one
compact side input.

Each step groups by a key together with the stored rows sharing it (a PCollection,
never a side input; transforms/dedup/stored.py reads only those a new article
could match), so nothing is compared all-to-all and nothing has to fit in one
worker's memory.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from transforms.articles import ARTICLE_ID
from transforms.dedup.near_duplicates import (
    BANDS,
    DEFAULT_MIN_JACCARD,
    DEFAULT_THRESHOLD,
    SIGNATURE_FIELDS,
    SIGNATURE_VERSION,
    PackBandEntriesFn,
    record_from_signature,
    verify,
)
from transforms.dedup.pairs import CandidatePairs, VerifyAndMark
from transforms.dedup.pending import SIGNATURES_TAG, StagePendingFn, StageStoredFn, pending_records
from transforms.dedup.stored import RowsWithIds, shares_content, shares_url
from transforms.metrics import NAMESPACE, count, progress_tally
from transforms.rejects import make_reject

NEW, OLD = "new", "old"
CHANGED = "changed"
REASON_CONTENT, REASON_URL, REASON_NEAR = "content", "url", "near"
# Not written again, only counted: the id is stored already, or read twice in this run.
REASON_STORED, REASON_SAME_ID = "already_ingested", "same_article"
SKIPPED, DUPLICATES = "skipped", "duplicates"
FAR_FUTURE = datetime.max.replace(tzinfo=timezone.utc)


def text_length(row: dict) -> int:
    """Characters of text: key rows and stored signatures carry it, articles have the text."""
    return row["text_length"] if row.get("text_length") is not None else len(row.get("text") or "")


def winner_order(row: dict) -> tuple:
    """Earliest published, then longest text, then smallest id: a total, stable order."""
    return (row.get("published_at") or FAR_FUTURE, -text_length(row), row["article_id"])


def as_duplicate(row: dict, winner_id: str, reason: str) -> dict:
    return {**row, "duplicate_of": winner_id, "duplicate_reason": reason}


def stored_others(old_rows: list, new_rows: list) -> list:
    """Stored rows of other articles: a stored signature never wins over the article
    that carries its own id (it can only be there without its article when files
    were lost; the article is then written again, not made a copy of itself)."""
    new_ids = {row["article_id"] for row in new_rows}
    return [row for row in old_rows if row["article_id"] not in new_ids]


def split_winner(new_rows: list, old_rows: list, reason: str) -> tuple[list, list]:
    """(winners, duplicates) of one key group.

    A row stored by an earlier run always wins: its row is already written and
    cannot be turned into a duplicate afterwards.
    """
    old_rows = stored_others(old_rows, new_rows)
    new_rows = sorted(new_rows, key=winner_order)
    if old_rows:
        winner_id = min(old_rows, key=winner_order)["article_id"]
        winners = []
    else:
        winner_id = new_rows[0]["article_id"]
        winners, new_rows = new_rows[:1], new_rows[1:]
    return winners, [as_duplicate(row, winner_id, reason) for row in new_rows]


def split_revisions(new_rows: list, old_rows: list, threshold: float) -> tuple[list, list]:
    """(winners, duplicates) of articles sharing one canonical URL.

    In publication order, a copy whose text matches a known version is a
    duplicate of it; a substantially changed text is a new revision of the
    story, with revision_of = the version before it. Stored versions come first.
    """
    old_rows = stored_others(old_rows, new_rows)
    if len(new_rows) == 1 and not old_rows:  # the usual case: a URL seen once, nothing to compare
        return list(new_rows), []
    versions = [(record_from_signature(row), row["article_id"]) for row in sorted(old_rows, key=winner_order)]
    winners, duplicates = [], []
    for row in sorted(new_rows, key=winner_order):
        record = record_from_signature(row, existing=False)
        same = next((vid for vrec, vid in versions if same_text(record, vrec, threshold)), None)
        if same is not None:
            duplicates.append(as_duplicate(row, same, REASON_URL))
            continue
        if versions:
            row = {**row, "revision_of": versions[-1][1]}
        winners.append(row)
        versions.append((record, row["article_id"]))
    return winners, duplicates


def same_text(a, b, threshold: float) -> bool:
    """Near-duplicate texts; too short to compare means changed (content hashes differ)."""
    return a is not None and b is not None and verify(a, b, threshold)


def tag_winners(winners_and_duplicates):
    winners, duplicates = winners_and_duplicates
    yield from winners
    for row in duplicates:
        yield beam.pvalue.TaggedOutput(DUPLICATES, row)


def first_of_same_id(grouped):
    """Rows whose article_id an earlier run stored go to 'skipped'; within a run, one
    row per id is kept (the same file read twice is the same article)."""
    _, rows = grouped
    ordered = sorted(rows[NEW], key=lambda r: r["input"])
    kept = [] if rows[OLD] else ordered[:1]
    yield from kept
    for row in ordered[len(kept) :]:
        reason = REASON_STORED if rows[OLD] else REASON_SAME_ID
        yield beam.pvalue.TaggedOutput(SKIPPED, {**row, "duplicate_reason": reason})


def key_by(field: str):
    return lambda row: (row[field], row)


def without_signature(row: dict) -> dict:
    """A key row (or stored signature) without its sketch and MinHash."""
    return {name: value for name, value in row.items() if name not in SIGNATURE_FIELDS}


class SkipAlreadyIngested(beam.PTransform):
    """Articles whose id is already stored, or seen twice, are skipped: a rerun adds
    no rows. Returns (kept, skipped)."""

    def __init__(self, stored_ids):
        super().__init__()
        self.stored_ids = stored_ids

    def expand(self, articles):
        split = (
            {
                NEW: articles | "KeyById" >> beam.Map(key_by("article_id")),
                OLD: self.stored_ids | "KeyStoredById" >> beam.Map(key_by("article_id")),
            }
            | "GroupById" >> beam.CoGroupByKey()
            | "KeepUnseen" >> beam.FlatMap(first_of_same_id).with_outputs(SKIPPED, main="kept")
        )
        return split.kept, split[SKIPPED]


def grouped_by(field: str, articles, stored, label: str):
    """(groups (key, {NEW: rows, OLD: stored rows}) that have new rows, rows without the field)."""
    has_field = beam.Partition(lambda row, _: int(bool(row.get(field))), 2)  # type: ignore[arg-type]  # stubs want a PartitionFn
    keyed = articles | f"{label}HasKey" >> has_field
    old = (
        stored
        | f"{label}StoredHasKey" >> beam.Filter(lambda row: bool(row.get(field)))
        | f"{label}KeyStored" >> beam.Map(key_by(field))
    )
    groups = (
        {NEW: keyed[1] | f"{label}KeyNew" >> beam.Map(key_by(field)), OLD: old}
        | f"{label}GroupByKey" >> beam.CoGroupByKey()
        | f"{label}OnlyNewGroups" >> beam.Filter(lambda kv: bool(kv[1][NEW]))
    )
    return groups, keyed[0]


class GroupAndSplit(beam.PTransform):
    """Group articles by `field` with the stored signatures sharing it, and split each
    group with `split(new, old, *args) -> (winners, duplicates)`. Rows without the
    field pass through as winners. Returns (winners, duplicates)."""

    def __init__(self, field: str, stored_signatures, split, *split_args):
        super().__init__()
        self.field, self.stored, self.split, self.split_args = field, stored_signatures, split, split_args

    def expand(self, articles):
        split_group, args = self.split, self.split_args
        groups, without_field = grouped_by(self.field, articles, self.stored, "")
        split = (
            groups
            | "Split" >> beam.Map(lambda kv: split_group(list(kv[1][NEW]), list(kv[1][OLD]), *args))
            | "Tag" >> beam.FlatMap(tag_winners).with_outputs(DUPLICATES, main="winners")
        )
        winners = (split.winners, without_field) | "AllWinners" >> beam.Flatten()
        return winners, split[DUPLICATES]


URL_GROUPS = "url_groups"


def single_or_group(grouped):
    """A URL seen once, with nothing stored under it (the usual case), is a winner as it
    is; the others are groups whose texts must be compared (split_revisions)."""
    _, rows = grouped
    new_rows = list(rows[NEW])
    old_rows = stored_others(list(rows[OLD]), new_rows)
    if len(new_rows) == 1 and not old_rows:
        yield new_rows[0]
    else:
        yield beam.pvalue.TaggedOutput(URL_GROUPS, (new_rows, old_rows))


def with_record(row: dict, record) -> dict:
    """A slim key row with the sketch of its record (read from the pending files)."""
    if record is None:
        return row
    return {
        **row,
        "signature_version": SIGNATURE_VERSION,
        "sketch": record.hashes,
        "sketch_level": record.level,
        "shingle_count": record.count,
    }


def split_url_group(group, records: dict, threshold: float):
    """split_revisions of one URL group, the new rows' sketches from `records`."""
    new_rows, old_rows = group
    return split_revisions([with_record(row, records.get(row["article_id"])) for row in new_rows], old_rows, threshold)


def new_row_ids(group) -> list:
    """The article ids of a URL group's new rows."""
    return [row["article_id"] for row in group[0]]


def excluded_id(row: dict) -> tuple:
    """(article_id, True) of a row taken out of near-duplicate matching."""
    return row["article_id"], True


def is_stored_skip(row: dict) -> bool:
    """Skipped because an earlier run stored its id (not: the same article read twice,
    whose id stays in the run through the row that was kept)."""
    return row.get("duplicate_reason") == REASON_STORED


def is_duplicate(row: dict) -> bool:
    return row.get("duplicate_of") is not None


class SameUrl(beam.PTransform):
    """Rows -> (winners, duplicates) by canonical URL, with the stored signatures
    sharing it. A URL seen once with nothing stored under it (the usual case) is a
    winner as it is; the new rows of the others are compared by their texts
    (split_revisions), their sketches read back from the pending files (`pending_paths`)."""

    def __init__(self, stored_signatures, pending_paths, threshold: float):
        super().__init__()
        self.stored, self.pending_paths, self.threshold = stored_signatures, pending_paths, threshold

    def expand(self, rows):
        url_groups, without_url = grouped_by("canonical_url", rows, self.stored, "")
        by_url_step = url_groups | "SingleUrls" >> beam.FlatMap(single_or_group).with_outputs(URL_GROUPS, main="single")
        url_ids = by_url_step[URL_GROUPS] | "UrlGroupIds" >> beam.FlatMap(new_row_ids)
        url_records = beam.pvalue.AsDict(
            self.pending_paths
            | "UrlRecords"
            >> beam.FlatMap(pending_records, beam.pvalue.AsDict(url_ids | "UrlIdKeys" >> beam.Map(lambda i: (i, True))))
            | "UrlRecordsById" >> beam.Map(lambda record: (record.article_id, record))
        )
        split_urls = (
            by_url_step[URL_GROUPS]
            | "SplitUrlGroups" >> beam.Map(split_url_group, url_records, self.threshold)
            | "TagUrlWinners" >> beam.FlatMap(tag_winners).with_outputs(DUPLICATES, main="winners")
        )
        winners = (
            by_url_step.single,
            without_url,
            split_urls.winners | "UrlWinnersSlim" >> beam.Map(without_signature),
        ) | "AfterUrl" >> beam.Flatten()
        return winners, split_urls[DUPLICATES] | "UrlDuplicatesSlim" >> beam.Map(without_signature)


class Deduplicate(beam.PTransform):
    """Key rows of articles -> (winners, duplicates, skipped, pending paths).

    Winners and duplicates are slim key rows (no sketch, no MinHash): duplicates are
    written pointing at their winner, skipped rows (stored already) only counted.
    The signatures go to pending files under `pending_folder` as the rows come in
    (transforms/dedup/pending.py); the paths returned let --no-nlp write the
    winners' signatures from them. `stored_ids`: article_id rows of stored articles;
    `stored_signatures`: SIGNATURES rows of stored winners (all of them, or at least
    those sharing a key with a new article). `new_keys`: optional stored.NewKeys of the
    new articles (a singleton PCollection): each step then takes only the stored rows
    that share its own key (content hash, URL, band key) with a new article.
    `stored_records`: optional PTransform, stored ids -> their stored signatures, from
    which near-duplicate verification takes the stored members of candidate pairs:
    stored.StoredSignaturesWithIds reads them again from the store (the local runner
    would otherwise hold stored_signatures whole until the pairs are known); by default
    they are picked from stored_signatures (stored.RowsWithIds).
    """

    def __init__(
        self,
        stored_ids,
        stored_signatures,
        pending_folder: str,
        near_threshold: float = DEFAULT_THRESHOLD,
        new_keys=None,
        stored_records=None,
    ):
        super().__init__()
        self.stored_ids, self.stored_signatures, self.near_threshold = stored_ids, stored_signatures, near_threshold
        self.pending_folder, self.new_keys = pending_folder, new_keys
        self.stored_records = stored_records or RowsWithIds(stored_signatures)

    def stored_for(self, label: str, shares):
        """The stored signatures a step takes: all, or those `shares(row, new_keys)`."""
        if self.new_keys is None:
            return self.stored_signatures
        return self.stored_signatures | label >> beam.Filter(shares, beam.pvalue.AsSingleton(self.new_keys))

    def expand(self, articles):
        signatures, threshold = self.stored_signatures, self.near_threshold
        staged = articles | "StagePending" >> beam.ParDo(StagePendingFn(self.pending_folder)).with_outputs(
            "paths", SIGNATURES_TAG, main="slim"
        )
        # Band keys of every new article, packed where it is read; exact duplicates and
        # skipped rows are taken out of the matched edges (WithoutExcluded) instead.
        wanted_keys = (
            ()
            if self.new_keys is None
            else (beam.pvalue.AsSingleton(self.new_keys | "NewBandKeys" >> beam.Map(lambda keys: keys.band_keys)),)
        )
        pairs, stored_in_pairs = (
            (
                articles | "PackBandKeys" >> beam.ParDo(PackBandEntriesFn(BANDS, existing=False)),
                signatures | "PackStoredBandKeys" >> beam.ParDo(PackBandEntriesFn(BANDS, existing=True), *wanted_keys),
            )
            | "AllBandBlocks" >> beam.Flatten()
            | "Candidates" >> CandidatePairs()
        )

        unseen, skipped = staged.slim | "SkipAlreadyIngested" >> SkipAlreadyIngested(self.stored_ids)
        after_content, by_content = unseen | "SameContent" >> GroupAndSplit(
            "content_hash",
            self.stored_for("StoredSharingContent", shares_content)
            | "StoredWithoutSignatures" >> beam.Map(without_signature),
            split_winner,
            REASON_CONTENT,
        )
        stored_urls = self.stored_for("StoredSharingUrls", shares_url)
        after_url, by_url = after_content | "SameUrl" >> SameUrl(stored_urls, staged.paths, threshold)

        # The records near-duplicate verification reads: the pending files, and the stored
        # signatures in candidate pairs, staged the same way. (No PCollection here is both a
        # Flatten's input and another transform's: Flink's fuser loses such a Flatten
        # input, Beam issue 34647.)
        record_paths = (
            staged.paths | "NewRecordPaths" >> beam.Map(lambda path: path),
            stored_in_pairs
            | "StoredPairMembers" >> self.stored_records
            | "StageStoredRecords" >> beam.ParDo(StageStoredFn(self.pending_folder)),
        ) | "RecordPaths" >> beam.Flatten()
        excluded = beam.pvalue.AsDict(
            (
                by_content | "ContentIds" >> beam.Map(excluded_id),
                by_url | "UrlIds" >> beam.Map(excluded_id),
                skipped | "StoredSkips" >> beam.Filter(is_stored_skip) | "SkippedIds" >> beam.Map(excluded_id),
            )
            | "ExcludedIds" >> beam.Flatten()
        )
        marked = after_url | "NearDuplicates" >> VerifyAndMark(
            pairs,
            record_paths,
            threshold,
            DEFAULT_MIN_JACCARD,
            excluded,
        )
        split = marked | "SplitNear" >> beam.Partition(lambda row, _: int(is_duplicate(row)), 2)
        duplicates = (
            by_content | "ContentDuplicates" >> beam.Map(lambda row: row),  # a Flatten's own inputs (see above)
            by_url | "UrlDuplicates" >> beam.Map(lambda row: row),
            split[1],
        ) | "AllDuplicates" >> beam.Flatten()
        # Winners and duplicates are counted where they are written (CountDecided): what
        # the summary reports is what the tables hold. Skipped rows are written nowhere.
        return (
            split[0],
            duplicates,
            skipped | "CountSkipped" >> count("duplicates", by="duplicate_reason"),
            staged[SIGNATURES_TAG],
        )


def decision(row: dict) -> tuple:
    """(input, what to write for it) of a winner or duplicate key row."""
    return row["input"], (
        row["article_id"],
        row.get("duplicate_of"),
        row.get("duplicate_reason"),
        row.get("revision_of"),
    )


def input_digest(input_name: str) -> bytes:
    """16 bytes naming an input in Decisions (a collision among a billion inputs has a
    chance of about 1e-21)."""
    return hashlib.blake2b(input_name.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@dataclass
class Decisions:
    """What each written input became, held by every worker of pass 2. Most inputs are
    plain winners: those are two sorted arrays (the input's digest, the 8 bytes of its
    article id), 24 bytes each instead of a dict entry of several hundred; duplicates,
    revisions and ids that are not 16 hex digits stay in a dict."""

    inputs: np.ndarray  # S16, sorted
    article_ids: np.ndarray  # S8, aligned with inputs
    others: dict  # input -> decision tuple

    @classmethod
    def build(cls, decisions) -> "Decisions":
        """From (input, decision tuple) pairs (`decision`)."""
        plain, others = [], {}
        for input_name, decided in decisions:
            article_id, duplicate_of, _, revision_of = decided
            if duplicate_of is None and revision_of is None and ARTICLE_ID.match(article_id):
                plain.append((input_digest(input_name), bytes.fromhex(article_id)))
            else:
                others[input_name] = decided
        plain.sort()
        return cls(
            np.array([digest for digest, _ in plain], dtype="S16"),
            np.array([article_id for _, article_id in plain], dtype="S8"),
            others,
        )

    def get(self, input_name: str):
        """The decision tuple of an input, or None when nothing is to be written for it."""
        decided = self.others.get(input_name)
        if decided is not None or not len(self.inputs):
            return decided
        digest = np.array(input_digest(input_name), dtype="S16")
        at = int(np.searchsorted(self.inputs, digest))
        if at < len(self.inputs) and self.inputs[at] == digest:
            # np.bytes_ strips trailing zero bytes: pad back to the id's 8
            return self.article_ids[at].ljust(8, b"\0").hex(), None, None, None
        return None

    def __len__(self) -> int:
        return len(self.inputs) + len(self.others)


class DecisionsFn(beam.CombineFn):
    """(input, decision) pairs -> one Decisions, the side input of ApplyDecisions."""

    def create_accumulator(self):
        return []

    def add_input(self, accumulator, pair):
        accumulator.append(pair)
        return accumulator

    def compact(self, accumulator):
        return Decisions.build(accumulator) if isinstance(accumulator, list) else accumulator

    def merge_accumulators(self, accumulators):
        parts = [self.compact(accumulator) for accumulator in accumulators]
        others = {}
        for part in parts:
            others.update(part.others)
        inputs = np.concatenate([part.inputs for part in parts]) if parts else np.array([], dtype="S16")
        article_ids = np.concatenate([part.article_ids for part in parts]) if parts else np.array([], dtype="S8")
        order = np.argsort(inputs, kind="stable")
        return Decisions(inputs[order], article_ids[order], others)

    def extract_output(self, accumulator):
        return self.merge_accumulators([accumulator])


def with_decision(article: dict, decisions):
    """The article as decided (a winner, or a duplicate pointing at its winner); nothing
    when no row is to be written for it (skipped: stored already or read twice); a
    `changed` reject when its input changed between the run's two reads.
    `decisions`: a Decisions, or a dict of input -> decision tuple."""
    decided = decisions.get(article["input"])
    if decided is None:
        return
    if decided[0] != article["article_id"]:
        yield beam.pvalue.TaggedOutput(CHANGED, changed_reject(article["input"], decided[0], article["article_id"]))
        return
    _, duplicate_of, reason, revision_of = decided
    yield {**article, "duplicate_of": duplicate_of, "duplicate_reason": reason, "revision_of": revision_of}


def changed_reject(input_name: str, decided_id: str | None = None, read_id: str | None = None) -> dict:
    """An input that changed (or vanished) between the two reads of a batch run: it was
    decided on as one article and read again as another (or not at all). The next run
    takes it as it is then."""
    detail = "the input changed between the run's two reads"
    if decided_id:
        detail += f" (decided as article {decided_id}, read again as {read_id})"
    return make_reject(input_name, "read", "changed_during_run", detail)


class CompactDecisions(beam.PTransform):
    """(winners, duplicates) key rows -> one Decisions (a PCollection of one element):
    the side input of ApplyDecisions and of the winners' signatures."""

    def expand(self, winners_and_duplicates):
        winners, duplicates = winners_and_duplicates
        return (
            (
                winners | "WinnerDecisions" >> beam.Map(decision),
                duplicates | "DuplicateDecisions" >> beam.Map(decision),
            )
            | "AllDecisions" >> beam.Flatten()
            | "Compact" >> beam.CombineGlobally(DecisionsFn())
        )


class ApplyDecisions(beam.PTransform):
    """Articles -> (the articles to write, as Deduplicate decided on their key rows;
    `changed_during_run` rejects).

    The decisions are one side input (CompactDecisions: about 24 bytes a written
    input), so each worker holds it while the articles stream past; the articles
    themselves, with their texts, are never shuffled.
    """

    def __init__(self, decisions):
        super().__init__()
        self.decisions = decisions

    def expand(self, articles):
        applied = articles | "WithDecision" >> beam.FlatMap(
            with_decision, beam.pvalue.AsSingleton(self.decisions)
        ).with_outputs(CHANGED, main="decided")
        return applied.decided, applied[CHANGED]


class CountDecidedFn(beam.DoFn):
    """Count decided articles as the summary reports them: winners as `articles`,
    duplicates as `duplicates` and `duplicates.<reason>`."""

    def setup(self):
        self.articles = Metrics.counter(NAMESPACE, "articles")
        self.duplicates = Metrics.counter(NAMESPACE, "duplicates")
        self.progress = progress_tally()

    def process(self, article):
        if is_duplicate(article):
            self.duplicates.inc()
            Metrics.counter(NAMESPACE, f"duplicates.{article['duplicate_reason']}").inc()
            self.progress.add("duplicates")
        else:
            self.articles.inc()
            self.progress.add("articles")
        yield article

    def finish_bundle(self):
        self.progress.flush()


def first_read_only(grouped):
    """Rejects of the second read whose input the first read did not reject."""
    input_name, reads = grouped
    if not reads["first"] and reads["second"]:
        yield changed_reject(input_name)


class ChangedBetweenReads(beam.PTransform):
    """Rejects of a batch run's second read -> `changed_during_run` rejects for the
    inputs that the first read took as articles (the file changed or vanished since):
    they would otherwise be lost without a trace. Rejects only: small."""

    def __init__(self, first_read_rejects):
        super().__init__()
        self.first = first_read_rejects

    def expand(self, second_read_rejects):
        return (
            {
                "first": self.first | "KeyFirst" >> beam.Map(lambda r: (r["input"], None)),
                "second": second_read_rejects | "KeySecond" >> beam.Map(lambda r: (r["input"], None)),
            }
            | "GroupByInput" >> beam.CoGroupByKey()
            | "OnlySecond" >> beam.FlatMap(first_read_only)
        )
