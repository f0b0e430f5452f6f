"""Run the batch pipeline and summarise what became of every input."""
import json
import os
import signal
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import StandardOptions

from pipeline.graph import build_pipeline
from pipeline.options import NewsbeamOptions
from pipeline.runners import LOCAL_BATCH_RUNNER, local_batch_runner
from schemas.tables import FEED_STATE
from transforms.metrics import counter_totals, run_inference_timings
from transforms.stored import stored_rows

RUNS_FOLDER = "_runs"


@dataclass
class RunSummary:
    run_id: str
    inputs: int
    articles: int
    duplicates: int
    rejects: int
    duplicates_by_reason: dict = field(default_factory=dict)
    rejects_by_stage: dict = field(default_factory=dict)
    nlp_failures: int = 0
    page_failures: int = 0
    feeds_by_outcome: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.inputs == self.articles + self.duplicates + self.rejects

    def line(self) -> str:
        def breakdown(counts):
            return " (" + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) + ")" if counts else ""
        check = "ok" if self.balanced else "MISMATCH"
        return (f"run {self.run_id}: inputs={self.inputs} articles={self.articles} "
                f"duplicates={self.duplicates}{breakdown(self.duplicates_by_reason)} "
                f"rejects={self.rejects}{breakdown(self.rejects_by_stage)} "
                f"nlp_failures={self.nlp_failures} page_failures={self.page_failures} "
                + (f"feeds{breakdown(self.feeds_by_outcome)} " if self.feeds_by_outcome else "")
                + f"[inputs = articles + duplicates + rejects: {check}]")


def by_prefix(totals: dict, prefix: str) -> dict:
    return {name[len(prefix):]: value for name, value in totals.items() if name.startswith(prefix)}


def summarise(run_id: str, totals: dict) -> RunSummary:
    return RunSummary(
        run_id=run_id, inputs=totals.get("inputs", 0), articles=totals.get("articles", 0),
        duplicates=totals.get("duplicates", 0), rejects=totals.get("rejects", 0),
        duplicates_by_reason=by_prefix(totals, "duplicates."),
        rejects_by_stage=by_prefix(totals, "rejects."), nlp_failures=totals.get("nlp_failures", 0),
        page_failures=totals.get("page_failures", 0), feeds_by_outcome=by_prefix(totals, "feeds."))


def write_summary(output_dir: str, summary: RunSummary) -> None:
    """Keep each run's summary beside the tables (`_runs/` is not a Parquet table)."""
    path = FileSystems.join(output_dir, RUNS_FOLDER, f"{summary.run_id}.json")
    if "://" not in output_dir:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with FileSystems.create(path) as handle:
        handle.write(json.dumps({**asdict(summary), "balanced": summary.balanced}, indent=1).encode())


def finish(result, output_dir: str, run_id: str, started_at) -> RunSummary:
    """Summarise a finished pipeline from its metrics and keep the summary beside the tables."""
    summary = summarise(run_id, counter_totals(result))
    summary.timings = {"wall_seconds": round((datetime.now(timezone.utc) - started_at).total_seconds(), 3),
                       **run_inference_timings(result)}
    write_summary(output_dir, summary)
    return summary


def feed_outcomes(output_dir: str, run_id: str) -> list[str]:
    """One line per feed this run polled: URL, outcome, error."""
    rows = stored_rows(output_dir, FEED_STATE.name, ("url", "outcome", "error", "run_id"))
    return [f"feed {r['url']}: {r['outcome']}" + (f" ({r['error']})" if r["error"] else "")
            for r in sorted(rows, key=lambda r: r["url"]) if r["run_id"] == run_id]


def stop_file_path(run_id: str) -> str:
    """Where the signal handler asks a stream to stop: a local file, which the polling
    source of local runners (Prism, Flink [local] with LOOPBACK workers) can see.
    Cluster runners are stopped their own way (Dataflow drain, Flink stop-with-savepoint)."""
    return os.path.join(tempfile.gettempdir(), f"newsbeam-{run_id}.stop")


def run_stream(options, run_id: str, started_at) -> RunSummary:
    """Run until --duration or a stop request, then flush windows and summarise."""
    from pipeline.stream_graph import build_stream_pipeline  # streams only: Prism/state imports

    opts = options.view_as(NewsbeamOptions)
    stop_file = stop_file_path(run_id)

    def request_stop(signum, _frame):
        with open(stop_file, "w") as handle:
            handle.write(f"signal {signum}\n")

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        pipeline = beam.Pipeline(options=options)
        build_stream_pipeline(pipeline, opts, run_id, started_at, stop_file)
        result = pipeline.run()
        result.wait_until_finish()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if os.path.exists(stop_file):
            os.remove(stop_file)
    return finish(result, opts.output, run_id, started_at)


def run_batch(options, run_id: str, started_at) -> RunSummary:
    opts = options.view_as(NewsbeamOptions)
    local = options.view_as(StandardOptions).runner == LOCAL_BATCH_RUNNER
    pipeline = beam.Pipeline(runner=local_batch_runner() if local else None, options=options)
    build_pipeline(pipeline, opts, run_id, started_at)
    result = pipeline.run()
    result.wait_until_finish()
    return finish(result, opts.output, run_id, started_at)
