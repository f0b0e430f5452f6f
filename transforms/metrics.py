"""Run counters (Beam metrics) behind the end-of-run summary, and the same counts
published while the run goes on for the live display (pipeline/progress.py)."""

import json
import os
import time
import uuid

import apache_beam as beam
from apache_beam.metrics import Metrics

NAMESPACE = "newsbeam"

# The live display's side channel. Beam's local batch runner (FnApiRunner) reports
# metrics only once the pipeline is done (`pipeline.run()` returns a finished result),
# so workers publish their counts here: the display sets this variable to a local
# folder, worker processes inherit it, and each counting DoFn instance keeps its own
# running totals in a file of its own, replaced whole (never a half-written file, no
# two writers on one file). Unset (off a terminal, remote workers): nothing is written.
PROGRESS_ENV = "NEWSBEAM_PROGRESS_DIR"
PROGRESS_FLUSH_SECONDS = 0.5  # at most this often per DoFn instance (a write costs about 0.7 ms here)


class ProgressTally:
    """Running totals of one DoFn instance, published to `folder` (None: a no-op)."""

    def __init__(self, folder: str | None, clock=time.monotonic):
        self.path = os.path.join(folder, f"{os.getpid()}-{uuid.uuid4().hex}.json") if folder else None
        self.counts: dict[str, int] = {}
        self.clock, self.flushed_at, self.dirty = clock, None, False

    def add(self, name: str, amount: int = 1) -> None:
        if self.path is None:
            return
        self.counts[name] = self.counts.get(name, 0) + amount
        self.dirty = True
        if self.flushed_at is None or self.clock() - self.flushed_at >= PROGRESS_FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Publish the totals now (end of a bundle, a step the display shows at once)."""
        if self.path is None or not self.dirty:
            return
        try:
            with open(self.path + ".tmp", "w") as handle:
                json.dump(self.counts, handle)
            os.replace(self.path + ".tmp", self.path)
        except OSError:  # the display's folder is gone or full: the run goes on, counted, unpublished
            Metrics.counter(NAMESPACE, "progress_write_errors").inc()
            self.path = None
            return
        self.flushed_at, self.dirty = self.clock(), False


def progress_tally() -> ProgressTally:
    """A tally publishing to the display's folder, when a display runs."""
    return ProgressTally(os.environ.get(PROGRESS_ENV))


def read_progress(folder: str) -> dict:
    """name -> total over every published tally in `folder` ({} once it is removed)."""
    totals: dict[str, int] = {}
    try:
        names = [name for name in os.listdir(folder) if name.endswith(".json")]
    except FileNotFoundError:
        return totals
    for name in names:
        try:
            with open(os.path.join(folder, name)) as handle:
                counts = json.load(handle)
        except FileNotFoundError:  # removed with the folder at the end of the run
            continue
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
    return totals


class CountFn(beam.DoFn):
    """Pass elements through, counting them as `name` and, with `by`, as `name.<value>`."""

    def __init__(self, name: str, by: str | None = None):
        self.name, self.by = name, by

    def setup(self):
        self.total = Metrics.counter(NAMESPACE, self.name)
        self.progress = progress_tally()

    def process(self, element):
        self.total.inc()
        self.progress.add(self.name)
        if self.by:
            name = f"{self.name}.{element.get(self.by)}"
            Metrics.counter(NAMESPACE, name).inc()
            self.progress.add(name)
        yield element

    def finish_bundle(self):
        self.progress.flush()


def count(name: str, by: str | None = None):
    return beam.ParDo(CountFn(name, by))


def counter_totals(result) -> dict:
    """name -> value of the newsbeam counters of a finished pipeline result."""
    from apache_beam.metrics.metric import MetricsFilter

    totals: dict[str, int] = {}
    for counter in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + (value or 0)
    return totals


# Beam's own RunInference metrics that the summary reports, as (name, unit divisor).
RUN_INFERENCE_TIMINGS = {
    "inference_batch_latency_micro_secs": ("nlp_seconds", 1e6),
    "load_model_latency_milli_secs": ("model_load_seconds", 1e3),
}


def run_inference_timings(result) -> dict:
    """Seconds spent in spaCy and in loading models, summed over workers."""
    from apache_beam.metrics.metric import MetricsFilter

    timings: dict[str, float] = {}
    try:
        distributions = result.metrics().query(MetricsFilter().with_namespace("RunInference"))["distributions"]
    except KeyError:  # a runner whose metrics have no distributions: the summary just lacks timings
        return timings
    for dist in distributions:
        name, divisor = RUN_INFERENCE_TIMINGS.get(dist.key.metric.name, (None, 1))
        value = dist.committed if dist.committed is not None else dist.attempted
        if name and value is not None:
            timings[name] = round(timings.get(name, 0) + value.sum / divisor, 3)
    return timings


def distribution_maxima(result) -> dict:
    """name -> largest value of the newsbeam distributions (largest_band_bucket)."""
    from apache_beam.metrics.metric import MetricsFilter

    maxima: dict[str, int] = {}
    try:
        distributions = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["distributions"]
    except KeyError:  # a runner whose metrics have no distributions: the summary just lacks them
        return maxima
    for dist in distributions:
        value = dist.committed if dist.committed is not None else dist.attempted
        if value is not None and value.count:
            name = dist.key.metric.name
            maxima[name] = max(maxima.get(name, value.max), value.max)
    return maxima
