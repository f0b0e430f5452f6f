"""Run the batch pipeline and summarise what became of every input.

Every run holds the output's lock (pipeline/output_lock.py) from start to commit,
first finishes or clears what dead runs left (transforms/sinks/commit.py), writes under
its own staging folder, and commits only when the pipeline has succeeded.
"""

import contextlib
import errno
import json
import os
import re
import signal
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import StandardOptions

from pipeline.chunks import MB, plan_chunks, range_bytes
from pipeline.graph import build_pipeline
from pipeline.integrity import CountsDisagree, check_counts
from pipeline.options import NewsbeamOptions
from pipeline.output_lock import OutputLock
from pipeline.progress import batch_progress, stream_progress
from pipeline.runners import LOCAL_BATCH_RUNNER, local_batch_runner
from schemas.tables import FEED_STATE
from transforms.dedup.stored import CorruptStoredFile, stored_rows
from transforms.metrics import counter_totals, distribution_maxima, run_inference_timings
from transforms.sinks.checkpoints import committed_checkpoints, unpublished_checkpoints
from transforms.sinks.commit import (
    MANIFEST,
    RUNS,
    commit_staged,
    committed_counts,
    discard_uncommitted,
    exists,
    is_local,
    join,
    prepare_output,
    staging_dir,
)

RUNS_FOLDER = RUNS


class OperatorError(Exception):
    """A failure the user fixes (full disk, read-only output, corrupt file): one line."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM during a run: one line saying what stays committed."""


# errno -> what to tell the user; matched in the exception chain and, since runners
# re-raise worker errors as text, in the message ("[Errno 28] No space left on device: 'path'").
OPERATOR_ERRNOS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
ERRNO_IN_TEXT = re.compile(r"\[Errno (\d+)\] [^:'\n]*(?:: '([^'\n]*)')?")
CORRUPT_IN_TEXT = re.compile(r"corrupt stored file [^\n]*?--repair` to quarantine it")


def operator_error(error: BaseException) -> str | None:
    """One line for the user when `error` is an operator's problem, else None."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, CorruptStoredFile):
            return str(seen)
        if isinstance(seen, OSError) and seen.errno in OPERATOR_ERRNOS:
            return f"{OPERATOR_ERRNOS[seen.errno]}: {seen.filename or ''}".rstrip(": ")
        seen = seen.__cause__ or seen.__context__
    text = str(error)
    corrupt = CORRUPT_IN_TEXT.search(text)
    if corrupt:
        return corrupt.group(0)
    for match in ERRNO_IN_TEXT.finditer(text):
        code = int(match.group(1))
        if code in OPERATOR_ERRNOS:
            return f"{OPERATOR_ERRNOS[code]}: {match.group(2) or ''}".rstrip(": ")
    return None


def check_writable(folder: str) -> None:
    """Fail before any work when the run's staging folder cannot be written."""
    probe = os.path.join(folder, ".probe") if is_local(folder) else FileSystems.join(folder, ".probe")
    try:
        if is_local(folder):
            os.makedirs(folder, exist_ok=True)
        with FileSystems.create(probe) as handle:
            handle.write(b"newsbeam")
        FileSystems.delete([probe])
    except Exception as error:
        reason = operator_error(error) or f"{type(error).__name__}: {error}"
        raise OperatorError(f"cannot write to the output ({reason}); nothing was run") from error


@contextmanager
def holding(output: str, owner: str, wait_for_lock: float):
    """Hold the output's lock (pipeline/output_lock.py); yields the lock."""
    lock = OutputLock(output, owner, wait_for_lock)
    try:
        lock.acquire()
    except OSError as error:
        raise OperatorError(f"cannot lock the output ({operator_error(error) or error}); nothing was run") from error
    with lock:
        yield lock


def takeover_lines(lock: OutputLock | None) -> list[str]:
    """What recovery says when the lock was taken from a run that died holding it."""
    if lock is None or not lock.taken_over:
        return []
    return [f"took over the lock of {lock.taken_over.get('run_id')}, which died holding it"]


@contextmanager
def committing(output: str, commit_id: str, wait_for_lock: float, lock_held: bool = False):
    """Hold the output (unless the caller holds it: a chunked run, for all its chunks),
    recover it, and discard this commit's staging unless the body finishes: yields the
    lines saying what recovery did."""
    with contextlib.nullcontext(None) if lock_held else holding(output, commit_id, wait_for_lock) as lock:
        actions = takeover_lines(lock)
        try:
            actions += prepare_output(output)
        except OSError as error:
            raise OperatorError(
                f"cannot recover the output ({operator_error(error) or error}); nothing was run"
            ) from error
        try:
            check_writable(staging_dir(output, commit_id))
            yield actions
        except BaseException as error:
            committed = exists(join(staging_dir(output, commit_id), MANIFEST))
            left = staging_left(output, commit_id)  # outcome() lists _staging/ after the discard
            ending = outcome(output, commit_id, committed) + left
            if was_interrupted(error):
                raise Interrupted(f"interrupted; {ending}") from error
            if isinstance(error, CountsDisagree):
                raise CountsDisagree(f"{error}; {ending}") from error
            reason = None if isinstance(error, OperatorError) else operator_error(error)
            if reason:
                reason = reason.replace("--output DIR", f"--output {output}")
                if reason in OPERATOR_ERRNOS.values():  # the error named no file: name the output
                    reason = f"{reason} writing under {output}"
                raise OperatorError(f"{reason}; {ending}") from error
            error.add_note(ending)
            raise


def staging_left(output: str, commit_id: str) -> str:
    """Discard an uncommitted commit's staging; what the run's one line adds when that
    fails too (the same full disk or read-only folder): the next run's recovery removes
    it, under the lock, and says so."""
    try:
        discard_uncommitted(output, commit_id)
    except OSError as error:
        reason, staging = operator_error(error) or error, staging_dir(output, commit_id)
        return f"; its staging {staging} could not be removed ({reason}): the next run removes it"
    return ""


def was_interrupted(error: BaseException) -> bool:
    """Ctrl-C, also when it landed in a runner's thread, which re-raises it as
    "RuntimeError: KeyboardInterrupt [while running 'STEP']"."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt) or str(seen).startswith("KeyboardInterrupt"):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def outcome(output: str, commit_id: str, committed: bool) -> str:
    """What a run that stopped on an error left committed, for its one line."""
    if committed:
        return (
            f"run {commit_id} is committed but not all published: the next run, or "
            f"`newsbeam check --output {output} --repair`, finishes publishing it"
        )
    unpublished = unpublished_checkpoints(output, commit_id)
    if unpublished:
        return (
            f"run {commit_id} was not committed; {unpublished} checkpoint(s) of it is committed but not all "
            f"published: the next run, or `newsbeam check --output {output} --repair`, finishes publishing it"
        )
    checkpoints = committed_checkpoints(output, commit_id)
    if checkpoints:
        return f"run {commit_id} was not committed; its {checkpoints} checkpoint(s) stay, and a rerun goes on from them"
    return f"nothing of run {commit_id} was committed"


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
    nlp_skipped_language: int = 0  # winners kept without NLP: no model for their language
    nlp_skipped_by_language: dict = field(default_factory=dict)
    page_failures: int = 0
    feeds_by_outcome: dict = field(default_factory=dict)
    sitemap_entries: dict = field(default_factory=dict)  # fetched, unchanged, repeated
    warc_skipped: dict = field(default_factory=dict)  # WARC records that are not inputs, by kind
    timings: dict = field(default_factory=dict)
    largest_band_bucket: int | None = None  # members of the largest near-duplicate band bucket
    candidate_pairs: int = 0  # near-duplicate candidate pairs out of the band buckets (one per shared band)
    recovery: list = field(default_factory=list)
    attempts_run_again: int = 0  # attempts whose counts disagreed, so not committed (run_commit)
    chunks: list = field(default_factory=list)  # the runs a very large input was committed in (pipeline/chunks.py)
    stopped: str | None = None  # how a stream ended other than by --duration or a signal

    @property
    def balanced(self) -> bool:
        return self.inputs == self.articles + self.duplicates + self.rejects

    def line(self) -> str:
        def breakdown(counts):
            return " (" + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) + ")" if counts else ""

        check = "ok" if self.balanced else "MISMATCH"
        return (
            f"run {self.run_id}: inputs={self.inputs} articles={self.articles} "
            f"duplicates={self.duplicates}{breakdown(self.duplicates_by_reason)} "
            f"rejects={self.rejects}{breakdown(self.rejects_by_stage)} "
            f"nlp_failures={self.nlp_failures} "
            f"nlp_skipped_language={self.nlp_skipped_language}{breakdown(self.nlp_skipped_by_language)} "
            f"page_failures={self.page_failures} "
            + (f"feeds{breakdown(self.feeds_by_outcome)} " if self.feeds_by_outcome else "")
            + (f"sitemap_entries{breakdown(self.sitemap_entries)} " if self.sitemap_entries else "")
            + (f"warc_skipped{breakdown(self.warc_skipped)} " if self.warc_skipped else "")
            + f"[inputs = articles + duplicates + rejects: {check}]"
        )


def by_prefix(totals: dict, prefix: str) -> dict:
    return {name[len(prefix) :]: value for name, value in totals.items() if name.startswith(prefix)}


def summarise(run_id: str, totals: dict) -> RunSummary:
    return RunSummary(
        run_id=run_id,
        inputs=totals.get("inputs", 0),
        articles=totals.get("articles", 0),
        duplicates=totals.get("duplicates", 0),
        rejects=totals.get("rejects", 0),
        duplicates_by_reason=by_prefix(totals, "duplicates."),
        rejects_by_stage=by_prefix(totals, "rejects."),
        nlp_failures=totals.get("nlp_failures", 0),
        nlp_skipped_language=totals.get("nlp_skipped_language", 0),
        nlp_skipped_by_language=by_prefix(totals, "nlp_skipped_language."),
        page_failures=totals.get("page_failures", 0),
        feeds_by_outcome=by_prefix(totals, "feeds."),
        sitemap_entries=by_prefix(totals, "sitemap_entries."),
        warc_skipped=by_prefix(totals, "warc_skipped."),
        candidate_pairs=totals.get("candidate_pairs", 0),
    )


def write_summary(output_dir: str, summary: RunSummary) -> None:
    """Keep each run's summary beside the tables (`_runs/` is not a Parquet table)."""
    path = FileSystems.join(output_dir, RUNS_FOLDER, f"{summary.run_id}.json")
    if "://" not in output_dir:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with FileSystems.create(path) as handle:
        handle.write(json.dumps({**asdict(summary), "balanced": summary.balanced}, indent=1).encode())


# What a stream counts as data in its commits (transforms/sinks/commit.py, TallyFn) rather than as metrics.
ACCOUNTING = ("inputs", "articles", "duplicates", "rejects")


def finish(result, run_id: str, started_at, committed: dict | None = None) -> RunSummary:
    """Summarise a finished pipeline from its metrics; a stream's accounting comes from
    the counts its commits recorded (`committed`) instead."""
    totals = counter_totals(result) if result is not None else {}
    if committed is not None:
        totals = {name: value for name, value in totals.items() if name.split(".")[0] not in ACCOUNTING}
        totals.update(committed)
    summary = summarise(run_id, totals)
    summary.timings = {
        "wall_seconds": round((datetime.now(timezone.utc) - started_at).total_seconds(), 3),
        **(run_inference_timings(result) if result is not None else {}),
    }
    summary.largest_band_bucket = (distribution_maxima(result) if result is not None else {}).get("largest_band_bucket")
    return summary


def feed_outcomes(output_dir: str, run_id: str) -> list[str]:
    """One line per feed this run polled: URL, outcome, error."""
    rows = stored_rows(output_dir, FEED_STATE.name, ("url", "outcome", "error", "run_id"))
    return [
        f"feed {r['url']}: {r['outcome']}" + (f" ({r['error']})" if r["error"] else "")
        for r in sorted(rows, key=lambda r: r["url"])
        if r["run_id"] == run_id
    ]


def stop_file_path(run_id: str) -> str:
    """Where the signal handler asks a stream to stop: a local file, which the polling
    source of local runners (Prism, Flink [local] with LOOPBACK workers) can see.
    Cluster runners are stopped their own way (Dataflow drain, Flink cancel: README,
    Stopping a stream on a cluster)."""
    return os.path.join(tempfile.gettempdir(), f"newsbeam-{run_id}.stop")


def run_stream(options, run_id: str, started_at) -> RunSummary:
    """Run until --duration or a stop request, then flush windows and summarise."""
    from pipeline.stream_graph import build_stream_pipeline  # streams only: Prism/state imports

    opts = options.view_as(NewsbeamOptions)
    stop_file = stop_file_path(run_id)

    def request_stop(signum, _frame):
        with open(stop_file, "w") as handle:
            handle.write(f"signal {signum}\n")

    with committing(opts.output, run_id, opts.wait_for_lock) as recovery:
        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            pipeline = beam.Pipeline(options=options)
            counts_before = build_stream_pipeline(pipeline, opts, run_id, started_at, stop_file)
            with stream_progress():
                # Ctrl-C at a terminal signals the whole process group. Prism starts inside
                # run(): started with SIGINT ignored, it keeps it ignored (Go's rule), so
                # only this process hears Ctrl-C and stops the stream cleanly, instead of
                # Prism dying under the running job.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                try:
                    result = pipeline.run()
                finally:
                    signal.signal(signal.SIGINT, request_stop)
                cancelled = wait_unless_cancelled(result)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if os.path.exists(stop_file):
                os.remove(stop_file)
        # Windows committed themselves; this commits what belongs to no window (feed-list rejects).
        commit_staged(opts.output, run_id, run_id, note={"counts": counts_before} if counts_before else None)
        # A cancelled job's metrics are gone with it: its summary is what its windows committed.
        summary = finish(None if cancelled else result, run_id, started_at, committed_counts(opts.output, run_id))
        summary.recovery = recovery
        summary.stopped = CANCELLED_LINE if cancelled else None
        write_summary(opts.output, summary)
    return summary


CANCELLED_LINE = (
    "the job was cancelled on the cluster: the windows it committed stay, the one in progress "
    "was not committed, and the next stream polls again"
)


def wait_unless_cancelled(result) -> bool:
    """Wait for the pipeline; True when it ended by being cancelled (a cluster's way to
    stop a stream, e.g. `flink cancel`), which is a stop, not a failure."""
    from apache_beam.runners.runner import PipelineState

    try:
        result.wait_until_finish()
    except Exception as error:
        if "JobCancellationException" in str(error) or getattr(result, "state", None) == PipelineState.CANCELLED:
            return True
        raise
    return getattr(result, "state", None) == PipelineState.CANCELLED


# Runners on which a failed bundle fails the run: a checkpoint a bundle committed is
# never written again by a retry of that bundle (transforms/sinks/checkpoints.py).
CHECKPOINTING_RUNNERS = (LOCAL_BATCH_RUNNER, "DirectRunner", "BundleBasedDirectRunner")


def checkpoint_seconds(runner: str | None, minutes: float) -> float | None:
    """How often workers commit what they analysed; None: the run commits once."""
    return minutes * 60 if minutes > 0 and runner in CHECKPOINTING_RUNNERS else None


def run_batch(options, run_id: str, started_at) -> RunSummary:
    """Run the batch graph and commit it: whole, or for very large inputs chunk by chunk
    (pipeline/chunks.py), each chunk a run of its own; the summary is of them all."""
    opts = options.view_as(NewsbeamOptions)
    chunks = plan_chunks(opts)
    if chunks is None:
        return run_commit(options, run_id, started_at)
    with holding(opts.output, run_id, opts.wait_for_lock) as lock:  # no other run between two chunks
        summary = combined_summary(run_id, run_chunks(options, run_id, started_at, chunks), started_at)
        summary.recovery[:0] = takeover_lines(lock)
        write_summary(opts.output, summary)
    return summary


def run_chunks(options, run_id: str, started_at, chunks: list) -> list[RunSummary]:
    """Run and commit the chunks one after another (the caller holds the output)."""
    summaries: list[RunSummary] = []
    for chunk in chunks:
        print(
            f"chunk {chunk.number} of {chunk.of} ({chunk_run_id(run_id, chunk)}): "
            f"{len(chunk.ranges)} file ranges, {sum(map(range_bytes, chunk.ranges)) / MB:.0f} MB",
            file=sys.stderr,
        )
        try:
            summaries.append(run_commit(options, chunk_run_id(run_id, chunk), started_at, chunk, lock_held=True))
        except (Interrupted, OperatorError, CountsDisagree) as error:
            if not summaries:
                raise
            committed = f"{summaries[0].run_id} to {summaries[-1].run_id}"
            raise type(error)(
                f"{error}; chunks 1-{len(summaries)} of {len(chunks)} ({committed}) stay committed, "
                "and a rerun skips their inputs as already ingested"
            ) from error
    return summaries


def chunk_run_id(run_id: str, chunk) -> str:
    return f"{run_id}-part{chunk.number:03d}"  # not "-c…": that names checkpoints


def combined_summary(run_id: str, summaries: list[RunSummary], started_at) -> RunSummary:
    """One summary of a run's chunks: counts and counts by kind added up, lists joined,
    the largest bucket the largest."""
    combined = RunSummary(run_id=run_id, inputs=0, articles=0, duplicates=0, rejects=0)
    for part in summaries:
        for name, value in vars(part).items():
            held = getattr(combined, name)
            if name == "largest_band_bucket":
                if value is not None:
                    combined.largest_band_bucket = max(held or 0, value)
            elif isinstance(value, int) and name != "run_id":
                setattr(combined, name, held + value)
            elif isinstance(value, list):
                held.extend(value)
            elif isinstance(value, dict) and name != "timings":
                for key, count in value.items():
                    held[key] = held.get(key, 0) + count
    combined.timings = {"wall_seconds": round((datetime.now(timezone.utc) - started_at).total_seconds(), 3)}
    combined.chunks = [part.run_id for part in summaries]
    return combined


# A run whose counts disagree (pipeline/integrity.py) is not committed; it is run again,
# under a new id, this many more times before the run fails. On the local runner with 2
# workers, 4 of 13 attempts at the 113k-article chunks of a 1M-article run disagreed
# until Beam's timed flush of worker inputs was turned off (pipeline/runners.py; 0 of 18
# since, docs/performance.md); the retries stay for whatever else a runner may drop.
COUNT_RETRIES = 4


def retry_id(run_id: str, attempt: int) -> str:
    return run_id if attempt == 1 else f"{run_id}-retry{attempt}"


def run_commit(options, run_id: str, started_at, chunk=None, lock_held: bool = False) -> RunSummary:
    """Run the batch graph (over one chunk of the inputs, or all) and commit it whole;
    when its counts disagree, run it again as a new run (retry_id), at most
    COUNT_RETRIES times. Each attempt that disagreed is a recovery line of the summary."""
    retried: list[str] = []
    attempt = 1
    while True:
        try:
            return run_commit_once(options, retry_id(run_id, attempt), started_at, chunk, lock_held, retried)
        except CountsDisagree as error:
            if attempt > COUNT_RETRIES:
                raise CountsDisagree(f"{error}; this was attempt {attempt} of {attempt}; rerun it") from error
            attempt += 1
            retried.append(f"{error}; running it again as {retry_id(run_id, attempt)}")
            print(retried[-1], file=sys.stderr)


def run_commit_once(
    options, run_id: str, started_at, chunk=None, lock_held: bool = False, retried: list[str] | None = None
) -> RunSummary:
    """Run the batch graph (over one chunk of the inputs, or all) into the run's
    staging folder and commit it whole. `retried`: the lines of earlier attempts that
    disagreed, which the summary written with the commit reports."""
    opts = options.view_as(NewsbeamOptions)
    runner = options.view_as(StandardOptions).runner
    local = runner == LOCAL_BATCH_RUNNER
    with committing(opts.output, run_id, opts.wait_for_lock, lock_held) as recovery:
        pipeline = beam.Pipeline(runner=local_batch_runner() if local else None, options=options)
        checkpoints = checkpoint_seconds(runner, opts.checkpoint_minutes)
        build_pipeline(pipeline, opts, run_id, started_at, checkpoints, chunk)
        with batch_progress(opts, checkpointing=checkpoints is not None):
            result = pipeline.run()
            result.wait_until_finish()
        summary = finish(result, run_id, started_at)
        check_counts(opts.output, run_id, counter_totals(result))
        summary.recovery = recovery + (retried or [])
        summary.attempts_run_again = len(retried or [])
        commit_staged(opts.output, run_id, run_id, note={"summary": summary.line()})
        write_summary(opts.output, summary)
    return summary
