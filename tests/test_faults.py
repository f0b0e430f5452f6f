"""Fault injection, end to end: `newsbeam run` with its defaults (NLP on) killed with
SIGKILL at every stage, interrupted, run twice at once, on a full disk and on a
read-only folder. After each, a rerun must give the tables of one clean run, and
`newsbeam check` must find nothing wrong.

Runs are real processes (`python -m pipeline run ...`). A kill point is made exact
by a launcher that wraps one function of the pipeline so that it sends SIGKILL to
its own process at that moment: no hook exists in the product code.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, SEEDS
from test_end_to_end import table_snapshot

from pipeline.cli import main
from pipeline.maintenance import check_output
from pipeline.run import OperatorError, committing
from schemas.duckdb_views import open_output
from transforms.sinks.commit import staging_dir

sys.path.insert(0, str(REPO / "bench"))
from corpus import generate, write_corpus  # noqa: E402

# Each launcher patches one function, then runs the CLI; KILL_AT kills this process.
LAUNCHER = """
import os, signal, sys
KILL = lambda: os.kill(os.getpid(), signal.SIGKILL)
{patch}
from pipeline.cli import main
sys.exit(main(sys.argv[1:]))
"""
KILL_POINTS = {
    # pass 1 (read, parse, dedup) done: pass 2 applies its first decision
    "after_dedup": """
import transforms.dedup.decide as d
def die(*args):
    KILL()
d.with_decision = die
""",
    # inside spaCy, after the first documents of the first batch
    "during_nlp": """
import spacy.language
pipe = spacy.language.Language.pipe
def pipe_then_die(self, texts, **kwargs):
    for number, doc in enumerate(pipe(self, texts, **kwargs)):
        if number == 2:
            KILL()
        yield doc
spacy.language.Language.pipe = pipe_then_die
""",
    # a checkpoint's articles file is written, before it is committed
    "during_write": """
import transforms.sinks.write as w
close = w.PartitionFiles.close
def close_then_die(self):
    written = close(self)
    if any("/articles/" in path for _, path in written):
        KILL()
    return written
w.PartitionFiles.close = close_then_die
""",
    # a checkpoint's manifest is written and two files are in place: it must roll forward
    "during_publish": """
import transforms.sinks.commit as c
move = c.move_into_place
moved = []
def move_then_die(staged, final):
    move(staged, final)
    moved.append(final)
    if len(moved) == 2:
        KILL()
c.move_into_place = move_then_die
""",
    # the pipeline has finished (its checkpoints committed), the run's own commit not made
    "before_run_commit": """
import pipeline.run as r
def die(*args, **kwargs):
    KILL()
r.commit_staged = die
""",
}
# Kill points after which some of the run is already visible (committed checkpoints).
PARTLY_COMMITTED = {"before_run_commit"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The seeds and 24 generated stories (with syndicated near-copies) in one folder."""
    folder = tmp_path_factory.mktemp("fault-corpus")
    for seed in SEEDS.iterdir():
        shutil.copy(seed, folder / seed.name)
    write_corpus(generate(24, seed=11, near_dup_share=0.25), str(folder / "stories"))
    return folder


@pytest.fixture(scope="module")
def clean_tables(corpus, tmp_path_factory):
    output = tmp_path_factory.mktemp("clean") / "out"
    assert main(["run", "--input", str(corpus), "--output", str(output)]) == 0
    tables = table_snapshot(output)
    duplicates = (
        open_output(str(output)).execute("SELECT count(*) FROM articles WHERE duplicate_of IS NOT NULL").fetchone()[0]
    )
    assert tables["entities"] and tables["quotes"] and duplicates, (
        "the corpus must give entities, quotes and duplicates for the comparison to mean anything"
    )
    return tables


def start_run(output, corpus, *extra, patch: str = "", env=None):
    args = [
        sys.executable,
        "-c",
        LAUNCHER.format(patch=patch),
        "run",
        "--input",
        str(corpus),
        "--output",
        str(output),
        *extra,
    ]
    return subprocess.Popen(
        args, cwd=REPO, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def finish(process, timeout=300) -> tuple[int, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out + err


def rerun(output, corpus, capsys) -> str:
    code = main(["run", "--input", str(corpus), "--output", str(output)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    return printed.out


def assert_sound(output):
    report = check_output(str(output))
    assert report.clean, [p.line() for p in report.problems]
    assert not (output / "_staging").exists()
    hidden = [f for _, _, files in os.walk(output) for f in files if f.startswith(".")]
    assert hidden == []


@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_a_run_killed_at_any_stage_then_rerun_gives_the_tables_of_one_clean_run(
    point, corpus, clean_tables, tmp_path, capsys
):
    output = tmp_path / "out"
    code, printed = finish(start_run(output, corpus, patch=KILL_POINTS[point]))
    assert code == -signal.SIGKILL, printed  # it really died at that point
    if point not in PARTLY_COMMITTED:  # a checkpoint half published is not visible either
        assert table_snapshot(output)["articles"] == []
    printed = rerun(output, corpus, capsys)
    assert "recovered: " in printed
    assert table_snapshot(output) == clean_tables
    assert_sound(output)


def test_an_interrupted_run_commits_nothing_and_says_so_in_one_line(corpus, clean_tables, tmp_path, capsys):
    output = tmp_path / "out"
    process = start_run(output, corpus, "--checkpoint-minutes", "0")
    deadline = time.monotonic() + 120
    while not list(output.glob("_staging/*")):  # the run holds the lock and has begun
        assert process.poll() is None and time.monotonic() < deadline, finish(process)[1]
        time.sleep(0.05)
    time.sleep(2)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    code, printed = finish(process)
    assert code == 130 and "interrupted; nothing of run" in printed, printed
    assert len(printed.strip().splitlines()) == 1, printed
    assert table_snapshot(output)["articles"] == []
    rerun(output, corpus, capsys)
    assert table_snapshot(output) == clean_tables


def test_a_run_killed_after_a_checkpoint_goes_on_from_it(corpus, clean_tables, tmp_path, capsys):
    """Checkpoints every second: the run is killed right after its first checkpoint,
    whose articles are visible with all their rows; the rerun does not analyse them
    again, and ends with the tables of one clean run."""
    output = tmp_path / "out"
    patch = """
import transforms.sinks.checkpoints as k
commit = k.commit_staged
def commit_then_die(*args, **kwargs):
    commit(*args, **kwargs)
    KILL()
k.commit_staged = commit_then_die
"""
    code, printed = finish(start_run(output, corpus, "--checkpoint-minutes", "0.0001", patch=patch))
    assert code == -signal.SIGKILL, printed
    con = open_output(str(output))
    checkpointed = con.execute("SELECT count(*) FROM articles").fetchone()[0]
    assert 0 < checkpointed < len(clean_tables["articles"])
    # whole: every checkpointed winner has its signature, and entities only of checkpointed articles
    assert con.execute(
        "SELECT count(*) FROM articles a WHERE duplicate_of IS NULL AND NOT EXISTS "
        "(SELECT 1 FROM signatures s WHERE s.article_id = a.article_id)"
    ).fetchone() == (0,)
    assert con.execute(
        "SELECT count(*) FROM entities e WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.article_id = e.article_id)"
    ).fetchone() == (0,)
    printed = rerun(output, corpus, capsys)
    assert f"already_ingested={checkpointed}" in printed, printed
    assert table_snapshot(output) == clean_tables
    assert_sound(output)


def test_two_runs_at_once_one_writes_and_the_other_refuses(corpus, clean_tables, tmp_path):
    output = tmp_path / "out"
    first, second = start_run(output, corpus), start_run(output, corpus)
    results = sorted([finish(first), finish(second)])
    (ok, ok_printed), (refused, refused_printed) = results
    assert ok == 0, ok_printed
    assert refused == 75 and "is in use by run" in refused_printed and "--wait-for-lock" in refused_printed
    assert len(refused_printed.strip().splitlines()) == 1
    assert table_snapshot(output) == clean_tables
    assert_sound(output)


def test_two_runs_at_once_with_wait_for_lock_both_finish_and_write_once(corpus, clean_tables, tmp_path):
    output = tmp_path / "out"
    runs = [start_run(output, corpus, "--wait-for-lock", "600") for _ in range(2)]
    printed = [finish(run) for run in runs]
    assert [code for code, _ in printed] == [0, 0], printed
    assert sum("articles=0 " in text for _, text in printed) == 1  # the second found it all stored
    assert table_snapshot(output) == clean_tables
    assert_sound(output)


def mount_tmpfs(folder, size: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({result.stderr.strip()}); "
            "test_run_error_classification covers the same errors injected"
        )


@pytest.fixture
def small_disk(tmp_path):
    folder = tmp_path / "disk"
    mount_tmpfs(folder, "256k")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_is_one_line_then_a_rerun_with_space_gives_one_clean_run(small_disk, corpus, clean_tables, capsys):
    output = small_disk / "out"
    code, printed = finish(start_run(output, corpus))
    assert code == 1 and "no space left on device" in printed and "nothing of run" in printed, printed
    assert len(printed.strip().splitlines()) == 1, printed
    assert table_snapshot(output)["articles"] == []
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    rerun(output, corpus, capsys)
    assert table_snapshot(output) == clean_tables
    assert_sound(output)


def test_a_read_only_output_is_one_line_before_any_work(tmp_path, corpus):
    disk = tmp_path / "ro"
    mount_tmpfs(disk, "16m")
    try:
        (disk / "out").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        code, printed = finish(start_run(disk / "out", corpus))
        assert code == 1 and "read-only file system" in printed, printed
        assert len(printed.strip().splitlines()) == 1
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_read_only_table_folder_at_publish_is_finished_by_the_next_run(corpus, clean_tables, tmp_path, capsys):
    """The run is committed (manifest written) when publishing hits the read-only folder:
    one line says so, and the next run rolls the commit forward."""
    output = tmp_path / "out"
    articles = output / "articles"
    articles.mkdir(parents=True)
    mounted = subprocess.run(["mount", "--bind", str(articles), str(articles)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot bind-mount here ({mounted.stderr.strip()})")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(articles)], check=True)
        code, printed = finish(start_run(output, corpus))
        assert code == 1 and "read-only file system" in printed and "is committed but not all published" in printed
        assert len(printed.strip().splitlines()) == 1, printed
    finally:
        subprocess.run(["umount", "-l", str(articles)], check=False)
    printed = rerun(output, corpus, capsys)
    assert "rolled forward" in printed
    assert table_snapshot(output) == clean_tables
    assert_sound(output)


def test_a_staging_that_cannot_be_removed_is_named_and_the_next_run_removes_it(corpus, clean_tables, tmp_path, capsys):
    """A commit fails on a read-only folder, and removing its staging fails on the same
    folder: the error names the staging left behind instead of dropping that failure,
    and the next run's recovery removes it."""
    output = tmp_path / "out"
    staging = Path(staging_dir(str(output), "stuck"))
    try:
        with pytest.raises(OperatorError) as raised:
            with committing(str(output), "stuck", wait_for_lock=0):
                (staging / "articles").mkdir(parents=True)
                (staging / "articles" / "part-0.parquet").write_bytes(b"written before the folder went read-only")
                bind = ["mount", "--bind", str(staging), str(staging)]
                mounted = subprocess.run(bind, capture_output=True, text=True)
                if mounted.returncode != 0:
                    pytest.skip(f"cannot bind-mount here ({mounted.stderr.strip()})")
                subprocess.run(["mount", "-o", "remount,bind,ro", str(staging)], check=True)
                (staging / "articles" / "part-1.parquet").write_bytes(b"refused")
    finally:  # only once committing has tried to remove it
        subprocess.run(["umount", "-l", str(staging)], check=False, capture_output=True)
    line = str(raised.value)
    assert line.startswith("read-only file system") and "nothing of run stuck was committed" in line, line
    assert f"its staging {staging} could not be removed (read-only file system" in line, line
    assert (staging / "articles" / "part-0.parquet").exists()  # left, as the line says
    printed = rerun(output, corpus, capsys)
    assert "removed the staging of stuck, which never committed" in printed, printed
    assert table_snapshot(output) == clean_tables
    assert_sound(output)


def test_a_corrupt_stored_file_stops_a_run_in_one_line_and_check_repair_lets_it_go_on(corpus, tmp_path, capsys):
    output = tmp_path / "out"
    assert main(["run", "--input", str(SEEDS), "--output", str(output), "--no-nlp"]) == 0
    victim = sorted((output / "articles").rglob("*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:100])
    capsys.readouterr()
    assert main(["run", "--input", str(SEEDS), "--output", str(output), "--no-nlp"]) == 1
    printed = capsys.readouterr()
    assert f"corrupt stored file {victim}" in printed.err and len(printed.err.strip().splitlines()) == 1
    assert main(["query", "--output", str(output), "SELECT count(*) FROM entities"]) == 0
    assert main(["check", "--output", str(output), "--repair"]) == 0
    assert main(["run", "--input", str(SEEDS), "--output", str(output), "--no-nlp"]) == 0
    assert "articles=1 " in capsys.readouterr().out  # the quarantined article is written again
    assert_sound(output)


def test_run_error_classification():
    """Errors as runners re-raise them (the worker's exception as text) become one line."""
    from pipeline.run import operator_error

    wrapped = RuntimeError(
        "Pipeline failed: ... OSError: [Errno 28] No space left on device: "
        "'/data/out/_staging/r1/articles/date=2026-01-01/.part-x.tmp' [while running 'Write']"
    )
    assert (
        operator_error(wrapped) == "no space left on device: /data/out/_staging/r1/articles/date=2026-01-01/.part-x.tmp"
    )
    assert operator_error(OSError(30, "Read-only file system", "/x")) == "read-only file system: /x"
    chained = ValueError("outer")
    chained.__cause__ = PermissionError(13, "Permission denied", "/out/_runs")
    assert operator_error(chained) == "permission denied: /out/_runs"
    assert operator_error(ValueError("a bug")) is None


def test_summary_files_are_json_with_the_commit_beside_them(corpus, tmp_path):
    output = tmp_path / "out"
    assert main(["run", "--input", str(SEEDS), "--output", str(output), "--no-nlp", "--run-id", "r1"]) == 0
    record = json.loads((output / "_runs" / "r1.commit.json").read_text())
    summary = json.loads((output / "_runs" / "r1.json").read_text())
    assert record["note"]["summary"].startswith("run r1: inputs=4") and summary["balanced"]
