"""Rejects: the record every stage emits for input it cannot use, and routing."""

import hashlib
from datetime import datetime, timezone

import apache_beam as beam

from transforms.articles import partition_date

REJECTS_TAG = "rejects"


class RejectError(Exception):
    """A reason to reject the whole input: carries the short error code."""

    def __init__(self, error: str, detail: str):
        super().__init__(detail)
        self.error = error


def make_reject(input_name: str, stage: str, error: str, detail: str | None = None) -> dict:
    return {"input": input_name, "stage": stage, "error": error, "detail": (detail or "")[:2000] or None}


def is_reject(record: dict) -> bool:
    return "stage" in record and "error" in record


def reject_id(reject: dict) -> str:
    """Same input, stage and error => same id, so a rerun does not record it again."""
    key = "\n".join((reject["input"], reject["stage"], reject["error"]))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def finalize_reject(reject: dict, run_id: str, rejected_at: datetime) -> dict:
    """Reject (docs/CONTRACTS.md) -> a row of schemas.tables.REJECTS."""
    return {
        **reject,
        "reject_id": reject_id(reject),
        "run_id": run_id,
        "rejected_at": rejected_at,
        "date": partition_date(rejected_at),
    }


def finalize_reject_now(reject: dict, run_id: str) -> dict:
    """finalize_reject at the time it happens (streams have no single run time)."""
    return finalize_reject(reject, run_id, datetime.now(timezone.utc))


def route_reject(record: dict):
    """Send rejects to the REJECTS_TAG output, everything else to the main one."""
    return beam.pvalue.TaggedOutput(REJECTS_TAG, record) if is_reject(record) else record


class SplitRejects(beam.PTransform):
    """One mixed PCollection -> (main, rejects)."""

    def expand(self, records):
        split = records | "RouteRejects" >> beam.Map(route_reject).with_outputs(REJECTS_TAG, main="main")
        return split.main, split[REJECTS_TAG]


def first_new_reject(grouped):
    """One row per reject_id, and none when an earlier run recorded it."""
    _, rows = grouped
    return [] if rows["old"] else list(rows["new"])[:1]


class FinalizeRejects(beam.PTransform):
    """Rejects -> rows of the rejects table that earlier runs did not record."""

    def __init__(self, stored_keys, run_id: str, rejected_at: datetime):
        super().__init__()
        self.stored_keys, self.run_id, self.rejected_at = stored_keys, run_id, rejected_at

    def expand(self, rejects):
        rows = rejects | "ToRows" >> beam.Map(finalize_reject, self.run_id, self.rejected_at)
        return (
            {
                "new": rows | "KeyNew" >> beam.Map(lambda r: (r["reject_id"], r)),
                "old": self.stored_keys | "KeyOld" >> beam.Map(lambda r: (r["reject_id"], r)),
            }
            | "GroupByRejectId" >> beam.CoGroupByKey()
            | "OnlyNew" >> beam.FlatMap(first_new_reject)
        )
