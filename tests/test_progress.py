"""The live display (pipeline/progress.py) and its side channel (transforms/metrics.py):
pure functions without Beam, then `newsbeam run` under a real pseudo-terminal and
through pipes."""

import json
import multiprocessing
import os
import pty
import re
import select
import signal
import sys

import apache_beam as beam
import pytest
from apache_beam.metrics import Metrics
from conftest import REPO, beam_pipeline
from feed_server import FeedServer, Response, rss_feed

from pipeline.progress import batch_rows, count_text, display_wanted, files_found, stream_status
from pipeline.runners import local_prism_binary
from schemas.duckdb_views import open_output
from transforms.metrics import (
    PROGRESS_FLUSH_SECONDS,
    ProgressTally,
    counter_totals,
    read_progress,
    run_inference_timings,
)

sys.path.insert(0, str(REPO / "bench"))
import corpus  # noqa: E402

NEWSBEAM = os.path.join(os.path.dirname(sys.executable), "newsbeam")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
SUMMARY = re.compile(
    r"run \S+: inputs=(\d+) articles=(\d+) duplicates=(\d+)(?: \([^)]*\))? rejects=(\d+) .*"
    r"\[inputs = articles \+ duplicates \+ rejects: ok\]"
)


# --- the side channel -------------------------------------------------------------


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_tallies_of_two_writers_add_up_and_unflushed_counts_wait(tmp_path):
    clock = FakeClock()
    first, second = ProgressTally(str(tmp_path), clock), ProgressTally(str(tmp_path), clock)
    first.add("inputs")  # first add publishes at once
    second.add("inputs", 2)
    first.add("inputs")  # within PROGRESS_FLUSH_SECONDS: held
    assert read_progress(str(tmp_path)) == {"inputs": 3}
    clock.now += PROGRESS_FLUSH_SECONDS
    first.add("rejects")
    assert read_progress(str(tmp_path)) == {"inputs": 4, "rejects": 1}
    second.add("inputs")
    second.flush()  # end of a bundle: published whatever the clock says
    assert read_progress(str(tmp_path)) == {"inputs": 5, "rejects": 1}
    assert all(name.endswith(".json") for name in os.listdir(tmp_path))  # no temporary file left


def test_without_a_display_a_tally_writes_nothing(tmp_path):
    tally = ProgressTally(None)
    tally.add("inputs")
    tally.flush()
    assert tally.path is None and tally.counts == {}
    assert read_progress(str(tmp_path / "removed")) == {}


def publish_counts(folder: str, name: str, times: int) -> None:
    tally = ProgressTally(folder)
    for _ in range(times):
        tally.add(name)
    tally.flush()


def test_writers_in_other_processes_never_show_a_torn_or_shrinking_total(tmp_path):
    workers = [
        multiprocessing.Process(target=publish_counts, args=(str(tmp_path), "analysed", 20_000)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    seen = [0]
    while any(worker.is_alive() for worker in workers):
        total = read_progress(str(tmp_path)).get("analysed", 0)  # json.load of every file: never torn
        assert total >= seen[-1]
        seen.append(total)
    for worker in workers:
        worker.join()
        assert worker.exitcode == 0
    assert read_progress(str(tmp_path)) == {"analysed": 40_000}


class TallyIntoFn(beam.DoFn):
    def __init__(self, folder):
        self.folder = folder

    def setup(self):
        self.progress = ProgressTally(self.folder)

    def process(self, element):
        self.progress.add("inputs")
        yield element


def test_a_tally_that_cannot_write_is_counted_and_the_run_goes_on(tmp_path):
    gone = str(tmp_path / "removed-by-the-display")  # never created: every write fails
    pipeline = beam_pipeline()
    _ = pipeline | beam.Create([1, 2, 3]) | beam.ParDo(TallyIntoFn(gone))
    result = pipeline.run()
    result.wait_until_finish()
    assert counter_totals(result) == {"progress_write_errors": 1}  # then the tally stops trying


class ReportBatchLatencyFn(beam.DoFn):
    """Reports batch latencies under RunInference's own namespace and metric name."""

    def process(self, micros):
        Metrics.distribution("RunInference", "inference_batch_latency_micro_secs").update(micros)
        yield micros


def test_run_inference_timings_sum_a_real_runs_latencies_in_seconds():
    latencies = [1_500_000, 2_250_000, 250_000]
    pipeline = beam_pipeline()
    _ = pipeline | beam.Create(latencies) | beam.ParDo(ReportBatchLatencyFn())
    result = pipeline.run()
    result.wait_until_finish()
    assert run_inference_timings(result) == {"nlp_seconds": sum(latencies) / 1e6}


class MetricsWithoutDistributions:
    """A runner's result whose metrics query has counters only."""

    def metrics(self):
        return self

    def query(self, _filter):
        return {"counters": []}


class BrokenMetrics(MetricsWithoutDistributions):
    def query(self, _filter):
        raise RuntimeError("metrics service down")


def test_run_inference_timings_without_distributions_are_none_but_other_errors_surface():
    assert run_inference_timings(MetricsWithoutDistributions()) == {}
    with pytest.raises(RuntimeError, match="metrics service down"):
        run_inference_timings(BrokenMetrics())


# --- what the display shows ---------------------------------------------------------


def test_first_pass_rows_have_counts_but_no_bars_yet():
    rows = {row.label: row for row in batch_rows({"inputs": 12, "rejects": 2}, 40, nlp=True, checkpointing=True)}
    assert list(rows) == ["found", "read", "spaCy model", "deduplicated", "analysed", "committed"]
    assert (rows["found"].done, rows["found"].finished) == (40, True)
    assert (rows["read"].done, rows["read"].finished, rows["read"].note) == (12, False, "inputs, 2 rejected")
    assert rows["spaCy model"].note == "waiting for the first articles" and not rows["spaCy model"].finished
    assert all(rows[label].total is None for label in ("deduplicated", "analysed", "committed"))


def test_second_pass_rows_count_towards_every_input_not_rejected():
    counts = {
        "inputs": 30,
        "rejects": 3,
        "articles": 20,
        "duplicates": 4,
        "analysed": 18,
        "committed": 0,
        "nlp_model_loading": 2,
        "nlp_model_loaded": 1,
    }
    rows = {row.label: row for row in batch_rows(counts, 30, nlp=True, checkpointing=True)}
    assert rows["read"].finished
    assert rows["spaCy model"].note == "loading on 1 worker" and not rows["spaCy model"].finished
    assert (rows["deduplicated"].done, rows["deduplicated"].total) == (24, 27)
    assert rows["deduplicated"].note == "20 articles, 4 duplicates"
    assert [count_text(rows[label]) for label in ("analysed", "committed", "spaCy model")] == ["18/27", "0/27", ""]
    done = {**counts, "articles": 23, "analysed": 27, "committed": 27, "nlp_model_loaded": 2}
    rows = batch_rows(done, 30, nlp=True, checkpointing=True)
    assert all(row.finished for row in rows)
    assert rows[2].note == "loaded on 2 workers"


def test_without_nlp_or_checkpoints_their_rows_are_left_out():
    labels = [row.label for row in batch_rows({}, None, nlp=False, checkpointing=False)]
    assert labels == ["found", "read", "deduplicated"]
    assert [row.label for row in batch_rows({}, 1, nlp=True, checkpointing=False)][-1] == "analysed"
    found = batch_rows({}, None, nlp=False, checkpointing=False)[0]
    assert "remote" in found.note


def test_a_count_beyond_the_expected_total_raises_the_total():
    # a file changed between the two reads is a reject of pass 2, after inputs were counted
    row = {r.label: r for r in batch_rows({"inputs": 5, "rejects": 2, "articles": 4}, 5, False, False)}
    assert (row["deduplicated"].done, row["deduplicated"].total) == (4, 4)


def test_stream_status_line():
    line = stream_status(
        {
            "feeds": 7,
            "feeds.failed": 2,
            "feeds.new": 5,
            "inputs": 31,
            "articles": 25,
            "duplicates": 6,
            "windows_committed": 3,
        },
        "12:05:10",
    )
    assert line == (
        "polls 7, 2 failed · entries 31 new · articles 25 · duplicates 6 · rejects 0 · windows 3, last 12:05:10"
    )
    assert stream_status({}, None).endswith("windows 0")


def test_display_only_on_a_terminal(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    read_end, write_end = os.pipe()
    terminal, other_end = pty.openpty()
    with os.fdopen(write_end, "w") as pipe, os.fdopen(other_end, "w") as tty:
        assert not display_wanted(pipe)
        assert display_wanted(tty)
        monkeypatch.setenv("TERM", "dumb")
        assert not display_wanted(tty)
    os.close(read_end)
    os.close(terminal)


def test_files_found_lists_as_the_run_does(tmp_path):
    (tmp_path / "a.txt").write_text("A\n\nbody")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.json").write_text("{}")
    (tmp_path / ".hidden").write_text("skipped")
    assert files_found([str(tmp_path), str(tmp_path / "a.txt")]) == 2  # a file named twice is read once
    assert files_found([str(tmp_path), "gs://bucket/news/*.json"]) is None


# --- `newsbeam run` on a terminal and off it ------------------------------------------


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    """30 short articles, one a file each (three near-copies among them), and one broken file."""
    folder = tmp_path_factory.mktemp("progress-corpus")
    for index, article in enumerate(corpus.generate(30, seed=17)):
        article["text"] = "\n\n".join(article["text"].split("\n\n")[:3])  # short: the test is about progress
        (folder / f"article-{index:02d}.json").write_text(json.dumps(article))
    (folder / "broken.json").write_text('{"title": "cut off", "text": "no end')
    return folder


def ctrl_c(_pid: int, terminal: int) -> None:
    os.write(terminal, b"\x03")  # as typed: SIGINT to every process in the terminal's foreground group


def run_in_terminal(args: list[str], env: dict, interrupt_when: str | None = None, interrupt=ctrl_c) -> tuple[int, str]:
    """Run `newsbeam ARGS` on a new pseudo-terminal; its whole output, as the terminal
    received it. With `interrupt_when`, `interrupt(pid, terminal)` (Ctrl-C) once that text has appeared."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child: its stdin, stdout and stderr are the terminal
        os.chdir(REPO)
        os.execve(NEWSBEAM, [NEWSBEAM, *args], env)
    received, interrupted = bytearray(), False
    while True:
        ready, _, _ = select.select([terminal], [], [], 300)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"no output for 300 s:\n{received.decode(errors='replace')[-3000:]}")
        try:
            chunk = os.read(terminal, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        received += chunk
        if interrupt_when and not interrupted and interrupt_when in ANSI.sub("", received.decode(errors="replace")):
            interrupt(pid, terminal)
            interrupted = True
    _, status = os.waitpid(pid, 0)
    os.close(terminal)
    return os.waitstatus_to_exitcode(status), received.decode(errors="replace")


def screens(output: str) -> list[str]:
    """The display's lines in the order they were drawn, escape codes removed."""
    return [line.strip() for line in re.split(r"\r\n|\r|\n", ANSI.sub("", output)) if line.strip()]


def row_values(lines: list[str], label: str) -> list[int]:
    pattern = re.compile(rf"^\S*\s*{label}\s+(\d+)")
    return [int(match.group(1)) for match in map(pattern.match, lines) if match]


def display_folders(env: dict) -> list[str]:
    """The display's folders left in the run's temporary folder (Beam and Prism leave their own)."""
    return [name for name in os.listdir(env["TMPDIR"]) if name.startswith("newsbeam-progress-")]


def terminal_env(tmp_path) -> dict:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    return {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40", "TMPDIR": str(temporary)}


def test_run_on_a_terminal_shows_counts_rising_to_the_summary_and_the_spacy_load(small_corpus, tmp_path):
    env = terminal_env(tmp_path)
    output = tmp_path / "out"
    code, received = run_in_terminal(["run", "--input", str(small_corpus), "--output", str(output)], env)
    lines = screens(received)
    summary = next((line for line in lines if SUMMARY.search(line)), None)
    assert code == 0 and summary, received[-3000:]
    inputs, articles, duplicates, rejects = map(int, SUMMARY.search(summary).groups())
    assert (inputs, rejects) == (31, 1) and articles + duplicates == 30

    assert "\x1b[" in received  # drawn in place
    assert any(re.match(r"^\S*\s*found\s+31\s+files", line) for line in lines)
    model = [line for line in lines if "spaCy model" in line]
    assert any("loading on 1 worker" in line for line in model) and "loaded on 1 worker" in model[-1]
    for label, final in (
        ("read", inputs),
        ("deduplicated", articles + duplicates),
        ("analysed", articles + duplicates),
        ("committed", articles + duplicates),
    ):
        values = row_values(lines, label)
        assert values[0] == 0 and values[-1] == final, (label, values)
        assert values == sorted(values), (label, values)  # counts only rise
    assert any(re.search(rf"analysed\s+{articles + duplicates}/{articles + duplicates}\b", line) for line in lines)
    # the run's result is the same as without a display, and the display's folder is gone
    ((stored,),) = open_output(str(output)).execute("SELECT count(*) FROM articles").fetchall()
    assert stored == articles + duplicates
    assert display_folders(env) == []


def test_run_through_pipes_prints_only_the_summary(small_corpus, tmp_path):
    import subprocess

    env = terminal_env(tmp_path)
    done = subprocess.run(
        [NEWSBEAM, "run", "--input", str(small_corpus), "--output", str(tmp_path / "out")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr == ""
    (line,) = done.stdout.splitlines()
    assert SUMMARY.fullmatch(line) and "\x1b" not in done.stdout
    assert display_folders(env) == []


def test_ctrl_c_on_a_terminal_ends_with_one_line_and_no_traceback(small_corpus, tmp_path):
    env = terminal_env(tmp_path)
    output = tmp_path / "out"
    code, received = run_in_terminal(
        ["run", "--input", str(small_corpus), "--output", str(output)], env, interrupt_when="loading on 1 worker"
    )
    text = ANSI.sub("", received)
    assert code == 130, text[-3000:]
    assert "Traceback" not in text
    assert re.search(r"newsbeam run: interrupted; nothing of run \S+ was committed", text), text[-2000:]
    assert received.endswith("\r\n") and "\x1b[?25h" in received  # the cursor is shown again
    assert display_folders(env) == []


# --- `newsbeam stream` on a terminal ----------------------------------------------------


@pytest.mark.skipif(local_prism_binary() is None, reason="Prism not built: `make prism` builds it (Go module proxy)")
def test_stream_on_a_terminal_shows_its_status_line_until_ctrl_c(tmp_path):
    """Stopped by Ctrl-C typed at the terminal: SIGINT to the whole foreground group,
    Prism included, which must not die under the job (pipeline/run.py run_stream)."""
    entries = [
        (f"Story {n}", f"http://127.0.0.1/s/{n}", f"<p>Story number {n} has its own distinct text.</p>")
        for n in (1, 2, 3)
    ]
    env = terminal_env(tmp_path)
    with FeedServer() as server:
        server.route(
            "/live.xml",
            lambda request: Response(200, {"Content-Type": "application/rss+xml"}, rss_feed("Live", entries)),
        )
        code, received = run_in_terminal(
            [
                "stream",
                "--feed",
                server.url("/live.xml"),
                "--output",
                str(tmp_path / "out"),
                "--poll-interval",
                "1",
                "--window",
                "2",
                "--allow-private-hosts",
                "--no-fetch-articles",
                "--no-nlp",
            ],
            env,
            interrupt_when="windows 2, last",
        )
    lines = screens(received)
    assert code == 0, received[-3000:]
    assert "Traceback" not in ANSI.sub("", received)
    status = [line for line in lines if "· windows" in line]
    assert re.search(
        r"polls [1-9]\d*, 0 failed · entries 3 new · articles 3 · duplicates 0 · rejects 0 · windows", status[-1]
    ), status[-1]
    polls = [int(re.search(r"polls (\d+)", line).group(1)) for line in status]
    assert polls[0] == 0 and polls == sorted(polls)
    summary = next(line for line in lines if SUMMARY.search(line))
    assert SUMMARY.search(summary).groups() == ("3", "3", "0", "0")
    assert display_folders(env) == []
