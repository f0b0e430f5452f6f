"""Very large inputs run in chunks (pipeline/chunks.py), each committed as a run of its
own and deduplicated against the chunks before it."""

import json
import os
import signal
import sys
import time
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from conftest import REPO
from test_end_to_end import table_snapshot
from test_faults import assert_sound, finish, start_run

from pipeline.chunks import MB, chunk_ranges, plan_chunks, range_bytes
from pipeline.cli import main
from pipeline.run import RunSummary, combined_summary
from schemas.duckdb_views import open_output
from transforms.ingest.formats import ReadLimits
from transforms.ingest.read import file_ranges

sys.path.insert(0, str(REPO / "bench"))
from corpus import generate, write_corpus  # noqa: E402


def options(inputs, chunk_mb, **other):
    """The NewsbeamOptions plan_chunks reads."""
    defaults = {"feed": [], "feeds_file": [], "sitemap": [], "fetch_articles": None}
    return SimpleNamespace(input=[str(i) for i in inputs], chunk_mb=chunk_mb, **{**defaults, **other})


def test_ranges_are_grouped_in_order_and_never_split():
    ranges = [
        ("a", "jsonl", 0, 10, 0),
        ("a", "jsonl", 10, 25, 3),
        ("b", "input", 0, None, 0),
        ("c", "input", 0, None, 0),
    ]
    assert chunk_ranges(ranges, [10, 15, 40, 5], 30) == [ranges[:2], ranges[2:3], ranges[3:]]
    assert chunk_ranges(ranges, [1, 1, 1, 1], 30) == [ranges]
    assert chunk_ranges([], [], 30) == []


def test_a_plan_covers_every_range_once_the_same_on_every_rerun(tmp_path):
    write_corpus(generate(400, seed=5), str(tmp_path / "corpus"), per_file=150)
    (tmp_path / "corpus" / "note.txt").write_text("A short story in a text file.\n" * 3)
    limits = ReadLimits(range_bytes=64 * 1024)
    plan = plan_chunks(options([tmp_path / "corpus"], 0.1), limits)
    assert plan is not None and len(plan) >= 3
    assert [chunk.number for chunk in plan] == list(range(1, len(plan) + 1)) and {c.of for c in plan} == {len(plan)}
    assert all(sum(map(range_bytes, chunk.ranges)) <= 0.1 * MB or len(chunk.ranges) == 1 for chunk in plan)
    files = sorted(str(p) for p in (tmp_path / "corpus").iterdir())
    every_range = [r for path in files for r in file_ranges((path, "input"), limits)]
    assert [r for chunk in plan for r in chunk.ranges] == every_range
    # a file named twice is planned once, and a rerun plans the same chunks
    twice = plan_chunks(options([tmp_path / "corpus", tmp_path / "corpus" / "note.txt"], 0.1), limits)
    assert twice == plan == plan_chunks(options([tmp_path / "corpus"], 0.1), limits)


def test_runs_that_stay_whole(tmp_path):
    write_corpus(generate(50, seed=5), str(tmp_path), per_file=50)
    assert plan_chunks(options([tmp_path], 0)) is None  # --chunk-mb 0
    assert plan_chunks(options([tmp_path], 1.0)) is None  # smaller than one chunk
    assert plan_chunks(options([tmp_path], 0.001)) is not None
    assert plan_chunks(options([tmp_path], 0.001, feed=["https://example.org/rss"])) is None  # fetched once
    assert plan_chunks(options([tmp_path], 0.001, fetch_articles=True)) is None


def ordered_corpus(folder, n=90):
    """Generated stories with near copies, each copy after its original in the files
    (as in the bench corpus): the first of a story is in the earliest chunk."""
    articles = generate(n, seed=21, near_dup_share=0.3)
    write_corpus(articles, str(folder), per_file=30)
    return articles


def run_no_nlp(inputs, output, *extra):
    return main(["run", "--input", str(inputs), "--output", str(output), "--no-nlp", *extra])


def test_a_chunked_run_commits_each_chunk_and_gives_the_tables_of_one_run(tmp_path, capsys):
    ordered_corpus(tmp_path / "corpus")
    assert run_no_nlp(tmp_path / "corpus", tmp_path / "whole") == 0
    whole = capsys.readouterr().out
    assert run_no_nlp(tmp_path / "corpus", tmp_path / "chunked", "--chunk-mb", "0.02", "--run-id", "big") == 0
    printed = capsys.readouterr()
    assert "chunk 1 of " in printed.err and "[inputs = articles + duplicates + rejects: ok]" in printed.out
    commits = sorted(n for n in os.listdir(tmp_path / "chunked" / "_runs") if n.endswith(".commit.json"))
    assert len(commits) >= 3 and commits[0] == "big-part001.commit.json"
    with open(tmp_path / "chunked" / "_runs" / "big.json") as handle:
        summary = json.load(handle)
    assert summary["balanced"] and summary["chunks"] == [c.removesuffix(".commit.json") for c in commits]
    assert summary["duplicates"] > 10  # near copies across chunks were found
    assert f"inputs={summary['inputs']} " in whole  # the same inputs
    assert table_snapshot(tmp_path / "chunked") == table_snapshot(tmp_path / "whole")
    runs = open_output(str(tmp_path / "chunked")).execute("SELECT count(DISTINCT run_id) FROM articles").fetchone()
    assert runs == (len(commits),)


# Dies in the second chunk's pass 2, after the first chunk committed.
DIE_IN_SECOND_CHUNK = """
import pipeline.run as r
import transforms.dedup.decide as d
commits = []
commit = r.commit_staged
def counting_commit(*args, **kwargs):
    commits.append(args)
    return commit(*args, **kwargs)
r.commit_staged = counting_commit
apply = d.with_decision
def die_in_second_chunk(*args):
    if commits:
        KILL()
    yield from apply(*args)
d.with_decision = die_in_second_chunk
"""


@pytest.mark.long
def test_a_chunked_run_with_nlp_killed_in_its_second_chunk_then_rerun_gives_the_tables_of_one_clean_run(
    tmp_path, capsys
):
    """The command a user types (NLP on), with chunks: killed after the first chunk
    committed, then rerun; and the same tables as the run of the files whole."""
    ordered_corpus(tmp_path / "corpus", n=60)
    chunked = ["--chunk-mb", "0.03"]
    assert main(["run", "--input", str(tmp_path / "corpus"), "--output", str(tmp_path / "whole")]) == 0
    assert main(["run", "--input", str(tmp_path / "corpus"), "--output", str(tmp_path / "clean"), *chunked]) == 0
    capsys.readouterr()
    clean = table_snapshot(tmp_path / "clean")
    assert clean["entities"] and clean["quotes"] and clean == table_snapshot(tmp_path / "whole")

    output = tmp_path / "killed"
    code, printed = finish(start_run(output, tmp_path / "corpus", *chunked, patch=DIE_IN_SECOND_CHUNK))
    assert code == -signal.SIGKILL, printed
    committed = [n for n in os.listdir(output / "_runs") if n.endswith("-part001.commit.json")]
    assert committed and len(table_snapshot(output)["articles"]) < len(clean["articles"])
    assert main(["run", "--input", str(tmp_path / "corpus"), "--output", str(output), *chunked]) == 0
    assert "already_ingested=" in capsys.readouterr().out  # the first chunk's inputs, skipped
    assert table_snapshot(output) == clean
    assert_sound(output)


def test_two_chunked_runs_at_once_one_writes_and_the_other_refuses(tmp_path, capsys):
    """The lock is held from the first chunk to the last: no run slips in between two."""
    ordered_corpus(tmp_path / "corpus")
    chunked = ["--no-nlp", "--chunk-mb", "0.02"]
    assert run_no_nlp(tmp_path / "corpus", tmp_path / "clean", *chunked[1:]) == 0
    capsys.readouterr()
    output = tmp_path / "out"
    first = start_run(output, tmp_path / "corpus", *chunked)
    while not (output / "_runs").exists() and first.poll() is None:  # its first chunk is committed
        time.sleep(0.05)
    second = start_run(output, tmp_path / "corpus", *chunked)
    (ok, ok_printed), (refused, refused_printed) = finish(first), finish(second)
    assert ok == 0, ok_printed
    assert refused == 75 and "is in use by run" in refused_printed, refused_printed
    assert table_snapshot(output) == table_snapshot(tmp_path / "clean")
    assert_sound(output)


def test_the_summary_of_chunks_adds_them_up():
    parts = [
        RunSummary("r-part001", 10, 7, 2, 1, {"near": 2}, {"read": 1}, largest_band_bucket=4, candidate_pairs=9),
        RunSummary(
            "r-part002",
            5,
            4,
            1,
            0,
            {"near": 1, "url": 0},
            recovery=["took over", "counts disagree; running it again as r-part002-retry2"],
            attempts_run_again=1,
            largest_band_bucket=None,
        ),
    ]
    summary = combined_summary("r", parts, datetime.now(timezone.utc))
    assert (summary.inputs, summary.articles, summary.duplicates, summary.rejects) == (15, 11, 3, 1)
    assert summary.balanced and summary.duplicates_by_reason == {"near": 3, "url": 0}
    assert summary.rejects_by_stage == {"read": 1} and summary.candidate_pairs == 9
    assert summary.largest_band_bucket == 4 and summary.attempts_run_again == 1
    assert summary.recovery == ["took over", "counts disagree; running it again as r-part002-retry2"]
    assert summary.chunks == ["r-part001", "r-part002"] and summary.run_id == "r"
