"""Deduplicate: drop what earlier runs stored, mark exact duplicates by key.

Each step groups by a key (CoGroupByKey with the keys earlier runs stored), so
nothing is compared all-to-all and nothing is held in one worker's memory.
"""
from datetime import datetime, timezone

import apache_beam as beam

from transforms.metrics import count

NEW, OLD = "new", "old"
REASON_CONTENT, REASON_URL, REASON_NEAR = "content", "url", "near"
# Not written again, only counted: the id is stored already, or read twice in this run.
REASON_STORED, REASON_SAME_ID = "already_ingested", "same_article"
SKIPPED = "skipped"
FAR_FUTURE = datetime.max.replace(tzinfo=timezone.utc)


def winner_order(row: dict) -> tuple:
    """Earliest published, then longest text, then smallest id: a total, stable order."""
    return (row.get("published_at") or FAR_FUTURE, -(row.get("word_count") or 0), row["article_id"])


def split_winner(new_rows: list, old_rows: list, reason: str) -> tuple[list, list]:
    """(winners, duplicates) of one key group.

    A row stored by an earlier run always wins: its row is already written and
    cannot be turned into a duplicate afterwards.
    """
    new_rows = sorted(new_rows, key=winner_order)
    if old_rows:
        winner_id = min(old_rows, key=winner_order)["article_id"]
        winners = []
    else:
        winner_id = new_rows[0]["article_id"]
        winners, new_rows = new_rows[:1], new_rows[1:]
    duplicates = [{**row, "duplicate_of": winner_id, "duplicate_reason": reason} for row in new_rows]
    return winners, duplicates


def tag_group(grouped, reason: str):
    """Yield winners on the main output and duplicates on 'duplicates'."""
    _, rows = grouped
    winners, duplicates = split_winner(list(rows[NEW]), list(rows[OLD]), reason)
    yield from winners
    for row in duplicates:
        yield beam.pvalue.TaggedOutput("duplicates", row)


def first_of_same_id(grouped):
    """Rows whose article_id an earlier run stored go to 'skipped'; within a run, one
    row per id is kept (the same file read twice is the same article)."""
    _, rows = grouped
    ordered = sorted(rows[NEW], key=lambda r: r["input"])
    kept = [] if rows[OLD] else ordered[:1]
    yield from kept
    for row in ordered[len(kept):]:
        reason = REASON_STORED if rows[OLD] else REASON_SAME_ID
        yield beam.pvalue.TaggedOutput(SKIPPED, {**row, "duplicate_reason": reason})


def has_key(field: str):
    return lambda row: bool(row.get(field))


def key_by(field: str):
    return lambda row: (row[field], row)


class SkipAlreadyIngested(beam.PTransform):
    """Articles whose id is already stored, or seen twice, are skipped: a rerun adds
    no rows. Returns (kept, skipped)."""

    def __init__(self, existing_keys):
        super().__init__()
        self.existing_keys = existing_keys

    def expand(self, articles):
        new = articles | "KeyById" >> beam.Map(key_by("article_id"))
        old = self.existing_keys | "KeyOldById" >> beam.Map(key_by("article_id"))
        split = (
            {NEW: new, OLD: old}
            | "GroupById" >> beam.CoGroupByKey()
            | "KeepUnseen" >> beam.FlatMap(first_of_same_id).with_outputs(SKIPPED, main="kept")
        )
        return split.kept, split[SKIPPED]


class MarkExactDuplicates(beam.PTransform):
    """Group by `field` (with the stored keys of earlier runs): one winner per value,
    the rest duplicates of it. Rows without the field pass through as winners.

    Returns (winners, duplicates).
    """

    def __init__(self, field: str, reason: str, existing_keys):
        super().__init__()
        self.field, self.reason, self.existing_keys = field, reason, existing_keys

    def expand(self, articles):
        keyed = articles | "HasKey" >> beam.Partition(lambda row, _: int(has_key(self.field)(row)), 2)
        without_key, with_key = keyed[0], keyed[1]
        old = (
            self.existing_keys
            | "OldWinners" >> beam.Filter(lambda row: row.get("duplicate_of") is None)
            | "OldHasKey" >> beam.Filter(has_key(self.field))
            | "KeyOld" >> beam.Map(key_by(self.field))
        )
        grouped = (
            {NEW: with_key | "KeyNew" >> beam.Map(key_by(self.field)), OLD: old}
            | "GroupByKey" >> beam.CoGroupByKey()
            | "SplitWinner" >> beam.FlatMap(tag_group, self.reason).with_outputs(
                "duplicates", main="winners")
        )
        winners = (grouped.winners, without_key) | "AllWinners" >> beam.Flatten()
        return winners, grouped.duplicates


class Deduplicate(beam.PTransform):
    """Articles -> (winners, duplicates, skipped): skip stored ids, then mark same
    content, then same URL. Duplicates are written (pointing at their winner);
    skipped rows are only counted."""

    def __init__(self, existing_keys):
        super().__init__()
        self.existing_keys = existing_keys

    def expand(self, articles):
        unseen, skipped = articles | "SkipAlreadyIngested" >> SkipAlreadyIngested(self.existing_keys)
        after_content, by_content = unseen | "SameContent" >> MarkExactDuplicates(
            "content_hash", REASON_CONTENT, self.existing_keys)
        winners, by_url = after_content | "SameUrl" >> MarkExactDuplicates(
            "canonical_url", REASON_URL, self.existing_keys)
        duplicates = (by_content, by_url) | "AllDuplicates" >> beam.Flatten()
        return (
            winners | "CountWinners" >> count("articles"),
            duplicates | "CountDuplicates" >> count("duplicates", by="duplicate_reason"),
            skipped | "CountSkipped" >> count("duplicates", by="duplicate_reason"),
        )
