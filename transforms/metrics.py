"""Run counters (Beam metrics) behind the end-of-run summary."""
import apache_beam as beam
from apache_beam.metrics import Metrics

NAMESPACE = "newsbeam"


class CountFn(beam.DoFn):
    """Pass elements through, counting them as `name` and, with `by`, as `name.<value>`."""

    def __init__(self, name: str, by: str | None = None):
        self.name, self.by = name, by

    def setup(self):
        self.total = Metrics.counter(NAMESPACE, self.name)

    def process(self, element):
        self.total.inc()
        if self.by:
            Metrics.counter(NAMESPACE, f"{self.name}.{element.get(self.by)}").inc()
        yield element


def count(name: str, by: str | None = None):
    return beam.ParDo(CountFn(name, by))


def counter_totals(result) -> dict:
    """name -> value of the newsbeam counters of a finished pipeline result."""
    from apache_beam.metrics.metric import MetricsFilter

    totals = {}
    for counter in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + (value or 0)
    return totals


# Beam's own RunInference metrics that the summary reports, as (name, unit divisor).
RUN_INFERENCE_TIMINGS = {"inference_batch_latency_micro_secs": ("nlp_seconds", 1e6),
                         "load_model_latency_milli_secs": ("model_load_seconds", 1e3)}


def run_inference_timings(result) -> dict:
    """Seconds spent in spaCy and in loading models, summed over workers."""
    from apache_beam.metrics.metric import MetricsFilter

    timings = {}
    try:
        distributions = result.metrics().query(MetricsFilter().with_namespace("RunInference"))["distributions"]
    except Exception:  # runners that report no distributions: the summary just lacks timings
        return timings
    for dist in distributions:
        name, divisor = RUN_INFERENCE_TIMINGS.get(dist.key.metric.name, (None, 1))
        value = dist.committed if dist.committed is not None else dist.attempted
        if name and value is not None:
            timings[name] = round(timings.get(name, 0) + value.sum / divisor, 3)
    return timings
