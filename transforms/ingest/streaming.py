"""Streaming building blocks: stoppable polling ticks, stateful feed polling and dedup.

No timer is used anywhere (event-time timers are unreliable on the Python
DirectRunner with PeriodicImpulse, and state pruned on access works on every
runner): state is plain ReadModifyWriteState (ValueState) in the global window,
and entries older than the horizon are dropped whenever their shard is touched.
The stream ends by finishing its impulse, which advances the watermark to the end
of time and so flushes every open window.
"""

import os
import time
from datetime import datetime, timedelta, timezone

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.transforms.periodicsequence import ImpulseSeqGenDoFn, ImpulseSeqGenRestrictionProvider
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Duration, Timestamp

from transforms.articles import finalize_article
from transforms.dedup.stored import read_key_rows, stored_files
from transforms.ingest.fetch import feed_state_row, fetch_reject, politeness_key, raw_input_for, stable_hash
from transforms.ingest.http_fetch import fetch

SKIPPED, DUPLICATES = "skipped", "duplicates"
STOP_CHECK_SECONDS = 0.5


# --- ticks ------------------------------------------------------------------------


def stop_requested(stop_file: str | None) -> bool:
    return stop_file is not None and os.path.exists(stop_file)  # ("" exists nowhere)


class StoppableImpulseDoFn(ImpulseSeqGenDoFn):
    """PeriodicImpulse's generator that also ends when `stop_file` appears.

    Between ticks it defers its remainder (as PeriodicImpulse does) but comes back
    at least every STOP_CHECK_SECONDS to look for a stop request. Ending claims the
    rest of the restriction at once, so the runner sees the work as done and
    moves the watermark to the end: open windows are flushed.
    """

    def __init__(self, stop_file: str | None):
        super().__init__(None)
        self.stop_file = stop_file

    @beam.DoFn.unbounded_per_element()
    def process(
        self,
        element,
        restriction_tracker=beam.DoFn.RestrictionParam(ImpulseSeqGenRestrictionProvider()),
        watermark_estimator=beam.DoFn.WatermarkEstimatorParam(
            beam.io.watermark_estimators.ManualWatermarkEstimator.default_provider()
        ),
    ):
        start, _, interval = element
        start = start.micros / 1e6 if isinstance(start, Timestamp) else start
        index = restriction_tracker.current_restriction().start
        while True:
            if stop_requested(self.stop_file):
                restriction_tracker.try_claim(restriction_tracker.current_restriction().stop)
                return
            fire_at = start + interval * index
            if fire_at > time.time():
                next_tick = Timestamp(fire_at)
                current = watermark_estimator.current_watermark()
                if current is None or next_tick > current:
                    watermark_estimator.set_watermark(next_tick)
                restriction_tracker.defer_remainder(Duration(min(fire_at - time.time(), STOP_CHECK_SECONDS)))
                return
            if not restriction_tracker.try_claim(index):
                return
            tick = Timestamp(fire_at)
            current = watermark_estimator.current_watermark()
            if current is None or tick > current:
                watermark_estimator.set_watermark(tick)
            yield TimestampedValue(tick, tick)
            index += 1


class PollTicks(beam.PTransform):
    """An unbounded tick every `interval` seconds from `start` until `stop` (epoch
    seconds) or until `stop_file` exists."""

    def __init__(self, start: float, stop: float, interval: float, stop_file: str | None):
        super().__init__()
        self.start, self.stop, self.interval, self.stop_file = start, stop, interval, stop_file

    def expand(self, pbegin):
        return (
            pbegin
            | "Impulse" >> beam.Impulse()
            | "Range" >> beam.Map(lambda _: (self.start, self.stop, self.interval))
            | "Ticks" >> beam.ParDo(StoppableImpulseDoFn(self.stop_file))
        )


# --- feed polling ----------------------------------------------------------------


def feeds_for_tick(_tick, urls: list[str], per_host_limit: int):
    """Each tick asks for every feed once, keyed so one host's feeds share a few keys."""
    return [(politeness_key(url, per_host_limit), url) for url in urls]


@beam.typehints.with_output_types(dict)
class PollFeedFn(beam.DoFn):
    """Fetch a feed with the validators remembered for it (conditional GET).

    Keyed by (host, slot): a key's elements are processed one at a time, which is
    the per-host politeness limit. State: url -> last FEED_STATE row, seeded
    from what earlier runs stored.
    """

    FEED_STATES = ReadModifyWriteStateSpec("feed_states", PickleCoder())

    def __init__(self, config, initial_states: dict):
        self.config, self.initial_states = config, initial_states

    def process(self, keyed_url, states=beam.DoFn.StateParam(FEED_STATES)):
        _, url = keyed_url
        known = states.read()
        known = dict(self.initial_states) if known is None else known
        result = fetch(url, known.get(url), self.config)
        row = feed_state_row(url, known.get(url), result)
        known[url] = row
        states.write(known)
        yield beam.pvalue.TaggedOutput("feed_state", row)
        if result.error:
            yield beam.pvalue.TaggedOutput("rejects", fetch_reject(url, result))
        elif result.changed:
            yield raw_input_for(url, result)


class PollFeeds(beam.PTransform):
    """Ticks -> {"raw", "feed_state", "rejects"}, like FetchFeeds but remembering state."""

    def __init__(self, urls, config, initial_states: dict):
        super().__init__()
        self.urls, self.config, self.initial_states = list(urls), config, initial_states

    def expand(self, ticks):
        outputs = (
            ticks
            | "FeedsPerTick" >> beam.FlatMap(feeds_for_tick, self.urls, self.config.per_host_limit)
            | "Poll"
            >> beam.ParDo(PollFeedFn(self.config, self.initial_states)).with_outputs(
                "feed_state", "rejects", main="raw"
            )
        )
        return {"raw": outputs.raw, "feed_state": outputs.feed_state, "rejects": outputs.rejects}


# --- dedup against everything seen -------------------------------------------------


def shard_of(value: str, shards: int) -> int:
    return stable_hash(value) % shards


def prune(seen: dict, now: datetime, horizon: timedelta) -> dict:
    """Drop keys first seen before the horizon: state stays bounded by the horizon."""
    oldest = now - horizon
    return {key: value for key, value in seen.items() if value[1] >= oldest}


def stored_keys_for_shard(output_dir: str, field: str, shard: int, shards: int, since: datetime) -> dict:
    """key -> (article_id, first seen) of stored winners in this shard, newer than `since`."""
    keys: dict[str, tuple[str, datetime]] = {}
    for path in stored_files(output_dir, "articles"):
        for row in read_key_rows(path, ("article_id", field, "ingested_at", "duplicate_of")):
            value, seen_at = row[field], row["ingested_at"]
            if (
                value
                and seen_at >= since
                and shard_of(value, shards) == shard
                and (field == "article_id" or row["duplicate_of"] is None)
            ):
                keys.setdefault(value, (row["article_id"], seen_at))
    return keys


class DedupAgainstSeenFn(beam.DoFn):
    """First copy of a key wins; later copies (in this stream or stored earlier) are
    duplicates of it, or, for article ids, skipped. Keyed by shard of the key."""

    SEEN = ReadModifyWriteStateSpec("seen", PickleCoder())

    def __init__(self, field: str, reason: str, output_dir: str, shards: int, horizon: timedelta, skip: bool):
        self.field, self.reason, self.output_dir = field, reason, output_dir
        self.shards, self.horizon, self.skip = shards, horizon, skip

    def process(self, keyed, seen_state=beam.DoFn.StateParam(SEEN)):
        shard, article = keyed
        now = datetime.now(timezone.utc)
        seen = seen_state.read()
        if seen is None:  # first use of this shard: start from what earlier runs stored
            seen = stored_keys_for_shard(self.output_dir, self.field, shard, self.shards, now - self.horizon)
        seen = prune(seen, now, self.horizon)
        value = article[self.field]
        if value in seen:
            winner_id = seen[value][0]
            if self.skip:
                yield beam.pvalue.TaggedOutput(SKIPPED, {**article, "duplicate_reason": self.reason})
            else:
                yield beam.pvalue.TaggedOutput(
                    DUPLICATES, {**article, "duplicate_of": winner_id, "duplicate_reason": self.reason}
                )
        else:
            seen[value] = (article["article_id"], now)
            yield article
        seen_state.write(seen)


class DedupAgainstSeen(beam.PTransform):
    """Articles -> (first copies, duplicates or skipped), by one field, across windows and runs."""

    def __init__(
        self, field: str, reason: str, output_dir: str, horizon: timedelta, shards: int = 16, skip: bool = False
    ):
        super().__init__()
        self.fn = DedupAgainstSeenFn(field, reason, output_dir, shards, horizon, skip)
        self.field, self.shards = field, shards

    def expand(self, articles):
        field, shards = self.field, self.shards
        split = (
            articles
            | "HasKey" >> beam.Filter(lambda a: bool(a.get(field)))
            | "KeyByShard" >> beam.Map(lambda a: (shard_of(a[field], shards), a))
            | "FirstCopyWins" >> beam.ParDo(self.fn).with_outputs(SKIPPED, DUPLICATES, main="kept")
        )
        without = articles | "NoKey" >> beam.Filter(lambda a: not a.get(field))
        kept = (split.kept, without) | "Kept" >> beam.Flatten()
        return kept, (split[SKIPPED], split[DUPLICATES]) | "NotKept" >> beam.Flatten()


def finalize_now(parsed: dict, run_id: str) -> dict:
    """finalize_article at the moment the stream ingests it."""
    return finalize_article(parsed, run_id, datetime.now(timezone.utc))
