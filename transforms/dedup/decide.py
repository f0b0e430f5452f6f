"""Deduplicate: skip what earlier runs stored, then same content, same URL
(duplicate or revision), near-duplicate text.

It works on key rows (`near_duplicates.article_key`: ids, URL, hash, dates and
the text's signature, no text), so the shuffles it needs stay small; the
decisions it makes are then applied to the articles themselves (ApplyDecisions).
The signature (sketch and MinHash, about 80% of a key row) is only needed from the
URL step on: the steps before it shuffle key rows without it.

Each step groups by a key together with the compact signatures earlier runs
stored (a PCollection, never a side input), so nothing is compared all-to-all
and nothing has to fit in one worker's memory.
"""

from datetime import datetime, timezone

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.dedup.near_duplicates import (
    DEFAULT_THRESHOLD,
    SIGNATURE_FIELDS,
    MarkNearDuplicates,
    record_from_signature,
    verify,
)
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


def keyed_signature(row: dict) -> tuple:
    """(article_id, the row's sketch and MinHash)."""
    return row["article_id"], {name: row.get(name) for name in SIGNATURE_FIELDS}


def with_signature(grouped):
    """Rows of one article_id, with the signature of that id put back."""
    _, groups = grouped
    signature = next(iter(groups["signature"]), {})
    for row in groups["row"]:
        yield {**row, **signature}


class RestoreSignatures(beam.PTransform):
    """Key rows without their signature -> the same rows with it, from (article_id,
    signature) pairs."""

    def __init__(self, signatures):
        super().__init__()
        self.signatures = signatures

    def expand(self, rows):
        return (
            {"row": rows | "KeyById" >> beam.Map(key_by("article_id")), "signature": self.signatures}
            | "GroupById" >> beam.CoGroupByKey()
            | "WithSignature" >> beam.FlatMap(with_signature)
        )


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


class GroupAndSplit(beam.PTransform):
    """Group articles by `field` with the stored signatures sharing it, and split each
    group with `split(new, old, *args) -> (winners, duplicates)`. Rows without the
    field pass through as winners. Returns (winners, duplicates)."""

    def __init__(self, field: str, stored_signatures, split, *split_args):
        super().__init__()
        self.field, self.stored, self.split, self.split_args = field, stored_signatures, split, split_args

    def expand(self, articles):
        field, split_group, args = self.field, self.split, self.split_args
        keyed = articles | "HasKey" >> beam.Partition(lambda row, _: int(bool(row.get(field))), 2)
        old = (
            self.stored
            | "StoredHasKey" >> beam.Filter(lambda row: bool(row.get(field)))
            | "KeyStored" >> beam.Map(key_by(field))
        )
        split = (
            {NEW: keyed[1] | "KeyNew" >> beam.Map(key_by(field)), OLD: old}
            | "GroupByKey" >> beam.CoGroupByKey()
            | "OnlyNewGroups" >> beam.Filter(lambda kv: bool(kv[1][NEW]))
            | "Split" >> beam.Map(lambda kv: split_group(list(kv[1][NEW]), list(kv[1][OLD]), *args))
            | "Tag" >> beam.FlatMap(tag_winners).with_outputs(DUPLICATES, main="winners")
        )
        winners = (split.winners, keyed[0]) | "AllWinners" >> beam.Flatten()
        return winners, split[DUPLICATES]


def is_duplicate(row: dict) -> bool:
    return row.get("duplicate_of") is not None


class Deduplicate(beam.PTransform):
    """Key rows of articles -> (winners, duplicates, skipped) key rows; winners keep
    their signatures (the signatures table is written from them), duplicates and
    skipped rows have none.

    Duplicates are written (pointing at their winner); skipped rows (stored
    already) are only counted. `stored_ids`: article_id rows of every stored
    article; `stored_signatures`: SIGNATURES rows of stored winners.
    """

    def __init__(self, stored_ids, stored_signatures, near_threshold: float = DEFAULT_THRESHOLD):
        super().__init__()
        self.stored_ids, self.stored_signatures, self.near_threshold = stored_ids, stored_signatures, near_threshold

    def expand(self, articles):
        signatures, threshold = self.stored_signatures, self.near_threshold
        article_signatures = articles | "Signatures" >> beam.Map(keyed_signature)
        slim = articles | "WithoutSignatures" >> beam.Map(without_signature)
        unseen, skipped = slim | "SkipAlreadyIngested" >> SkipAlreadyIngested(self.stored_ids)
        after_content, by_content = unseen | "SameContent" >> GroupAndSplit(
            "content_hash",
            signatures | "StoredWithoutSignatures" >> beam.Map(without_signature),
            split_winner,
            REASON_CONTENT,
        )
        after_url, by_url = (
            after_content
            | "RestoreSignatures" >> RestoreSignatures(article_signatures)
            | "SameUrl" >> GroupAndSplit("canonical_url", signatures, split_revisions, threshold)
        )
        marked = after_url | "NearDuplicates" >> MarkNearDuplicates(threshold, existing=signatures)
        split = marked | "SplitNear" >> beam.Partition(lambda row, _: int(is_duplicate(row)), 2)
        # Duplicates only point at their winner: their signatures are not needed further.
        duplicates = (
            by_content,
            by_url | "UrlDuplicatesSlim" >> beam.Map(without_signature),
            split[1] | "NearDuplicatesSlim" >> beam.Map(without_signature),
        ) | "AllDuplicates" >> beam.Flatten()
        # Winners and duplicates are counted where they are written (CountDecided): what
        # the summary reports is what the tables hold. Skipped rows are written nowhere.
        return (
            split[0],
            duplicates,
            skipped | "CountSkipped" >> count("duplicates", by="duplicate_reason"),
        )


def decision(row: dict) -> tuple:
    """(input, what to write for it) of a winner or duplicate key row."""
    return row["input"], (
        row["article_id"],
        row.get("duplicate_of"),
        row.get("duplicate_reason"),
        row.get("revision_of"),
    )


def with_decision(article: dict, decisions: dict):
    """The article as decided (a winner, or a duplicate pointing at its winner); nothing
    when no row is to be written for it (skipped: stored already or read twice); a
    `changed` reject when its input changed between the run's two reads."""
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


class ApplyDecisions(beam.PTransform):
    """Articles -> (the articles to write, as Deduplicate decided on their key rows;
    `changed_during_run` rejects).

    The decisions are a side input keyed by input: only written articles have one,
    so each worker holds a small dict while the articles stream past it.
    """

    def __init__(self, winners, duplicates):
        super().__init__()
        self.winners, self.duplicates = winners, duplicates

    def expand(self, articles):
        decisions = (
            self.winners | "WinnerDecisions" >> beam.Map(decision),
            self.duplicates | "DuplicateDecisions" >> beam.Map(decision),
        ) | "Decisions" >> beam.Flatten()
        applied = articles | "WithDecision" >> beam.FlatMap(with_decision, beam.pvalue.AsDict(decisions)).with_outputs(
            CHANGED, main="decided"
        )
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
