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
