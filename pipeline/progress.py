"""A sign of life on a terminal, quiet off it: the live display of `newsbeam run`
and the status line of `newsbeam stream`.

Workers publish their counts through the side channel of transforms/metrics.py
(`ProgressTally`: Beam's local batch runner reports metrics only once the pipeline
is done); a thread here reads them a few times a second and redraws with rich,
which also keeps log lines above the display. Off a terminal (cron, CI, a pipe)
nothing here runs: the output is the summary lines alone. The display reads counts,
it never feeds them: the summary and the exit code still come from Beam's metrics
and the commits.
"""

import logging
import os
import shutil
import sys
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass

from transforms.metrics import PROGRESS_ENV, read_progress

REFRESH_SECONDS = 0.25


def display_wanted(stream=None) -> bool:
    """A live display only for a person at a terminal (stderr by default; not TERM=dumb)."""
    return (stream or sys.stderr).isatty() and os.environ.get("TERM") != "dumb"


def files_found(specs: list[str]) -> int | None:
    """How many distinct files the local input specs name, listed as the run lists
    them (transforms/ingest/read.py); None when one is remote (not listed twice)."""
    from transforms.ingest.read import is_remote, list_files

    if any(is_remote(spec) for spec in specs):
        return None
    return len({path for spec in specs for path in list_files(spec)[0]})


@dataclass
class Row:
    """One line of the batch display: `done` of `total` (None: no bar)."""

    label: str
    done: int
    total: int | None
    note: str
    finished: bool
    counted: bool = True  # False: a step, shown by its note alone


def count_text(row: Row) -> str:
    if not row.counted:
        return ""
    return f"{row.done}/{row.total}" if row.total is not None else str(row.done)


def batch_rows(counts: dict, found: int | None, nlp: bool, checkpointing: bool) -> list[Row]:
    """The batch display's lines from the workers' counts (read_progress)."""
    inputs, rejects = counts.get("inputs", 0), counts.get("rejects", 0)
    articles, duplicates = counts.get("articles", 0), counts.get("duplicates", 0)
    analysed, committed = counts.get("analysed", 0), counts.get("committed", 0)
    decided = articles + duplicates
    # Pass 2 (decisions applied, NLP, writing) starts once pass 1 has read everything.
    second_pass = decided > 0 or analysed > 0 or committed > 0
    expected = max(inputs - rejects, decided, analysed, committed)  # every input not rejected is decided
    rows = [
        Row(
            "found",
            found or 0,
            None,
            "files" if found is not None else "files (remote inputs: listed by the run)",
            True,
        ),
        Row("read", inputs, None, f"inputs, {rejects} rejected", second_pass),
    ]
    if nlp:
        loading, loaded = counts.get("nlp_model_loading", 0), counts.get("nlp_model_loaded", 0)
        note = (
            "waiting for the first articles"
            if not loading
            else f"loading on {plural(loading - loaded, 'worker')}"
            if loading > loaded
            else f"loaded on {plural(loaded, 'worker')}"
        )
        rows.append(Row("spaCy model", loaded, None, note, loading > 0 and loading == loaded, counted=False))
    rows.append(
        Row(
            "deduplicated",
            decided,
            expected if second_pass else None,
            f"{plural(articles, 'article')}, {plural(duplicates, 'duplicate')}",
            second_pass and decided >= expected,
        )
    )
    if nlp:
        rows.append(
            Row(
                "analysed",
                analysed,
                expected if second_pass else None,
                f"{counts.get('nlp_failures', 0)} failed",
                second_pass and analysed >= expected,
            )
        )
        if checkpointing:
            rows.append(
                Row(
                    "committed",
                    committed,
                    expected if second_pass else None,
                    "in checkpoints",
                    second_pass and committed >= expected,
                )
            )
    return rows


def stream_status(counts: dict, last_window_at: str | None) -> str:
    """The stream's one status line from the workers' counts (read_progress)."""
    return (
        f"polls {counts.get('feeds', 0)}, {counts.get('feeds.failed', 0)} failed · "
        f"entries {counts.get('inputs', 0)} new · articles {counts.get('articles', 0)} · "
        f"duplicates {counts.get('duplicates', 0)} · rejects {counts.get('rejects', 0)} · "
        f"windows {counts.get('windows_committed', 0)}" + (f", last {last_window_at}" if last_window_at else "")
    )


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def rate_column():
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Items per second, once rich has seen a few updates."""

        def render(self, task):
            shown = task.fields.get("bar") and task.speed and not task.finished
            return Text(f"{task.speed:.1f}/s" if shown else "", style="progress.data.speed")

    return RateColumn()


def eta_column():
    from rich.progress import TimeRemainingColumn

    class EtaColumn(TimeRemainingColumn):
        """Time left where a total is known, else nothing."""

        def render(self, task):
            return super().render(task) if task.fields.get("bar") and not task.finished else ""

    return EtaColumn()


def bar_column():
    from rich.progress import BarColumn

    class OptionalBar(BarColumn):
        """A bar where a total is known; rich would pulse forever without one."""

        def render(self, task):
            return super().render(task) if task.fields.get("bar") else ""

    return OptionalBar(bar_width=30)


class Poller(threading.Thread):
    """Calls `update` every REFRESH_SECONDS until stopped, and once more at the end."""

    def __init__(self, update):
        super().__init__(name="newsbeam-progress", daemon=True)
        self.update, self.stopping = update, threading.Event()

    def run(self):
        while not self.stopping.wait(REFRESH_SECONDS):
            self.update()

    def stop(self):
        self.stopping.set()
        self.join()
        self.update()


@contextmanager
def worker_output_captured(folder: str):
    """While the display runs, file descriptor 2 (which Beam's worker processes inherit
    and log to) goes to a file: worker chatter would scroll the display away. Yields a
    console writing to the terminal. A run that fails (not one interrupted) shows what
    its workers wrote."""
    from rich.console import Console

    captured_path = os.path.join(folder, "workers.log")
    terminal = os.dup(2)
    captured = os.open(captured_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    terminal_file = os.fdopen(terminal, "w", buffering=1)
    os.dup2(captured, 2)
    os.close(captured)
    try:
        yield Console(file=terminal_file)
    except BaseException as error:
        from pipeline.run import was_interrupted  # run.py imports this module

        if not was_interrupted(error):  # Ctrl-C reached the workers too: their tracebacks are noise
            os.dup2(terminal, 2)
            with open(captured_path, errors="replace") as handle:
                sys.stderr.write(handle.read())
        raise
    finally:
        os.dup2(terminal, 2)
        terminal_file.close()


@contextmanager
def logging_through(console):
    """Log records go through the display's console, above the live lines."""
    from rich.logging import RichHandler

    root = logging.getLogger()
    handlers = root.handlers[:]
    root.handlers = [RichHandler(console=console, show_time=False, show_path=False, level=root.level)]
    try:
        yield
    finally:
        root.handlers = handlers


@contextmanager
def published_counts():
    """A folder for the workers' counts, named to them through the environment
    (worker processes started from here inherit it); removed at the end."""
    folder = tempfile.mkdtemp(prefix="newsbeam-progress-")
    previous = os.environ.get(PROGRESS_ENV)
    os.environ[PROGRESS_ENV] = folder
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = previous
        shutil.rmtree(folder, ignore_errors=True)  # a few bytes in the temporary folder must not fail a run


@contextmanager
def live_display(columns, draw):
    """Run `draw(progress, counts)` on the workers' counts until the body ends."""
    from rich.progress import Progress

    with published_counts() as folder, worker_output_captured(folder) as console:
        progress = Progress(*columns, console=console, auto_refresh=False, transient=False)
        poller = Poller(lambda: (draw(progress, read_progress(folder)), progress.refresh()))
        with progress, logging_through(console):
            draw(progress, {})
            poller.start()
            try:
                yield
            finally:
                poller.stop()


@contextmanager
def batch_progress(opts, checkpointing: bool, stream=None):
    """The live display of a batch run on a terminal; nothing off one."""
    if not display_wanted(stream):
        yield
        return
    from rich.progress import SpinnerColumn, TextColumn

    found = files_found(opts.input + [feed for feed in opts.feed if "://" not in feed])
    tasks = {}

    def draw(progress, counts):
        for row in batch_rows(counts, found, not opts.no_nlp, checkpointing):
            if row.label not in tasks:
                tasks[row.label] = progress.add_task(row.label, total=None, count="", note="", bar=False)
            if row.total is not None:
                total, completed = row.total, row.done
            else:  # no bar: rich marks a task done once completed reaches its total
                total, completed = (1, 1) if row.finished else (None, 0)
            progress.update(
                tasks[row.label],
                total=total,
                completed=completed,
                count=count_text(row),
                note=row.note,
                bar=row.total is not None,
            )

    columns = (
        SpinnerColumn(finished_text="[green]✓"),
        TextColumn("{task.description:<13}"),
        TextColumn("{task.fields[count]:>9}"),
        bar_column(),
        rate_column(),
        eta_column(),
        TextColumn("{task.fields[note]}"),
    )
    with live_display(columns, draw):
        yield


@contextmanager
def stream_progress(stream=None):
    """The status line of a stream on a terminal; nothing off one."""
    if not display_wanted(stream):
        yield
        return
    from datetime import datetime

    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    state = {"task": None, "windows": 0, "last_at": None}

    def draw(progress, counts):
        if state["task"] is None:
            state["task"] = progress.add_task("stream", total=None, status="")
        if counts.get("windows_committed", 0) != state["windows"]:
            state["windows"], state["last_at"] = counts["windows_committed"], datetime.now().strftime("%H:%M:%S")
        progress.update(state["task"], status=stream_status(counts, state["last_at"]))

    from rich.table import Column

    # The elapsed time keeps its width; a narrow terminal cuts the end of the status instead.
    columns = (
        SpinnerColumn(),
        TimeElapsedColumn(table_column=Column(min_width=7, no_wrap=True)),
        TextColumn("{task.fields[status]}", table_column=Column(no_wrap=True, overflow="ellipsis")),
    )
    with live_display(columns, draw):
        yield
