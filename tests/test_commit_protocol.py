"""The output's commit protocol, lock, check and compaction, without Beam (transforms/sinks/commit.py,
pipeline/output_lock.py, pipeline/maintenance.py). End-to-end crashes are in test_faults.py."""

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import REPO

from pipeline.maintenance import check_output, compact_output, repair_output
from pipeline.output_lock import OutputLock, OutputLocked
from schemas.duckdb_views import open_output
from schemas.tables import ARTICLES, REJECTS
from transforms.rejects import finalize_reject, make_reject
from transforms.sinks import commit
from transforms.sinks.commit import commit_staged, committed_files, prepare_output, recover, staging_dir
from transforms.sinks.write import file_schema

WHEN = datetime(2026, 3, 1, tzinfo=timezone.utc)


def stage_rejects(output, commit_id, names, rows_each=2, day="2026-03-01"):
    """Write real rejects Parquet files under a commit's staging folder."""
    folder = os.path.join(staging_dir(str(output), commit_id), "rejects", f"date={day}")
    os.makedirs(folder, exist_ok=True)
    for name in names:
        rows = [
            finalize_reject(make_reject(f"/in/{commit_id}/{name}/{i}", "parse", "bad_json"), commit_id, WHEN)
            for i in range(rows_each)
        ]
        for row in rows:
            row.pop("date")
        pq.write_table(pa.Table.from_pylist(rows, schema=file_schema(REJECTS)), os.path.join(folder, name))


def count_rejects(output) -> int:
    return open_output(str(output)).execute("SELECT count(*) FROM rejects").fetchone()[0]


@pytest.fixture
def output(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    prepare_output(str(out))
    return out


def test_nothing_is_visible_until_the_commit_and_everything_after(output):
    stage_rejects(output, "run1", ["part-run1-000.parquet", "part-run1-001.parquet"])
    assert committed_files(str(output), "rejects") == [] and count_rejects(output) == 0
    record = commit_staged(str(output), "run1", "run1")
    assert sorted(f["path"] for f in record["files"]) == [
        "rejects/date=2026-03-01/part-run1-000.parquet",
        "rejects/date=2026-03-01/part-run1-001.parquet",
    ]
    assert count_rejects(output) == 4 and not (output / "_staging").exists()
    assert json.loads((output / "_runs" / "run1.commit.json").read_text())["commit_id"] == "run1"


def test_a_publish_killed_between_two_files_is_invisible_then_rolled_forward(output, monkeypatch):
    stage_rejects(output, "run1", [f"part-run1-{i:03d}.parquet" for i in range(3)])
    moved = []

    def die_after_one(staged, final):
        if moved:
            raise KeyboardInterrupt("killed mid-publish")
        commit.move(staged, final)
        moved.append(final)

    monkeypatch.setattr(commit, "move_into_place", die_after_one)
    with pytest.raises(KeyboardInterrupt):
        commit_staged(str(output), "run1", "run1")
    # one file is in place, but no record names it: readers see nothing of the run
    assert len(list((output / "rejects").rglob("*.parquet"))) == 1
    assert count_rejects(output) == 0
    monkeypatch.undo()
    assert recover(str(output)) == ["rolled forward commit run1 (its manifest was complete)"]
    assert count_rejects(output) == 6 and recover(str(output)) == []


def test_staging_without_a_manifest_is_removed_and_never_read(output):
    stage_rejects(output, "dead", ["part-dead-000.parquet"])
    assert recover(str(output)) == ["removed the staging of dead, which never committed"]
    assert not (output / "_staging").exists() and count_rejects(output) == 0


def test_files_in_place_outside_every_commit_are_not_stored(output):
    """A dead run's file left in place (an older version's crash) is not read, and
    check names it."""
    stage_rejects(output, "run1", ["part-run1-000.parquet"])
    commit_staged(str(output), "run1", "run1")
    stray = output / "rejects" / "date=2026-03-01" / "part-ghost-000.parquet"
    shutil.copy(output / "rejects" / "date=2026-03-01" / "part-run1-000.parquet", stray)
    assert count_rejects(output) == 2
    report = check_output(str(output))
    assert [(p.kind, p.path) for p in report.problems] == [
        ("uncommitted", "rejects/date=2026-03-01/part-ghost-000.parquet")
    ]
    repaired = repair_output(str(output))
    assert repaired.clean and not stray.exists()
    assert list((output / "_quarantine").rglob("part-ghost-000.parquet"))


def test_an_output_written_before_commit_records_is_adopted(tmp_path):
    legacy = tmp_path / "legacy"
    stage_rejects(legacy, "old", ["part-old-000.parquet"])
    os.rename(legacy / "_staging" / "old" / "rejects", legacy / "rejects")
    (legacy / "_staging" / "old").rmdir()
    assert count_rejects(legacy) == 2  # readable as it was, before any new run
    actions = prepare_output(str(legacy))
    assert actions[-1] == "adopted 1 files written before commit records existed"
    assert count_rejects(legacy) == 2 and check_output(str(legacy)).clean


def test_check_names_a_truncated_file_and_repair_quarantines_it(output):
    stage_rejects(output, "run1", ["part-run1-000.parquet", "part-run1-001.parquet"])
    commit_staged(str(output), "run1", "run1")
    bad = output / "rejects" / "date=2026-03-01" / "part-run1-001.parquet"
    bad.write_bytes(bad.read_bytes()[:50])
    named = []
    assert (
        open_output(str(output), on_bad_file=lambda path, reason: named.append(path))
        .execute("SELECT count(*) FROM rejects")
        .fetchone()[0]
        == 2
    )
    assert named == [str(bad)]
    report = check_output(str(output))
    assert [(p.kind, p.path) for p in report.problems] == [
        ("unreadable", "rejects/date=2026-03-01/part-run1-001.parquet")
    ]
    repaired = repair_output(str(output))
    assert repaired.clean and len(repaired.repaired) == 1 and not bad.exists()
    reasons = json.loads(next((output / "_quarantine").glob("*/_reasons.json")).read_text())
    assert reasons[0]["kind"] == "unreadable"
    assert check_output(str(output)).clean and count_rejects(output) == 2


def test_an_unreadable_commit_record_hides_its_files_until_repair_rebuilds_it(output):
    stage_rejects(output, "run1", ["part-run1-000.parquet"])
    commit_staged(str(output), "run1", "run1")
    stage_rejects(output, "run2", ["part-run2-000.parquet", "part-run2-001.parquet"])
    commit_staged(str(output), "run2", "run2")
    (output / "_runs" / "run2.commit.json").write_text('{"commit_id": "run2", "fil')
    assert count_rejects(output) == 2  # run1 still readable; run2's files not taken as committed
    kinds = sorted(p.kind for p in check_output(str(output)).problems)
    assert kinds == ["uncommitted", "uncommitted", "unreadable_record"]
    repaired = repair_output(str(output))
    assert repaired.clean and repaired.repaired == ["rebuilt _runs/run2.commit.json from 2 files"]
    assert count_rejects(output) == 6 and check_output(str(output)).clean


def test_recovery_removes_records_whose_writer_died_before_the_rename(output):
    (output / "_runs").mkdir(exist_ok=True)
    (output / "_runs" / "run9.commit.json.0123abcd.tmp").write_text('{"half')
    assert recover(str(output)) == ["removed 1 unfinished record files from _runs/"]
    assert list((output / "_runs").iterdir()) == []


def test_check_finds_a_wrong_schema_and_a_duplicate_article_id(output):
    folder = output / "_staging" / "run1" / "rejects" / "date=2026-03-01"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"reject_id": ["x"], "input": [1]}), folder / "part-run1-000.parquet")
    articles = output / "_staging" / "run1" / "articles" / "date=2026-03-01"
    articles.mkdir(parents=True)
    for name in ("part-run1-000.parquet", "part-run1-001.parquet"):
        rows = [
            {
                "article_id": "same-id",
                "text": "t",
                "run_id": "run1",
                "date_inferred": False,
                "ingested_at": WHEN,
                "content_hash": "h",
                "text_source": "file",
                "input": name,
                "word_count": 1,
            }
        ]
        pq.write_table(pa.Table.from_pylist(rows, schema=file_schema(ARTICLES)), articles / name)
    commit_staged(str(output), "run1", "run1")
    problems = [(p.kind, p.path.rsplit("/", 1)[-1]) for p in check_output(str(output)).problems]
    assert problems == [("schema", "part-run1-000.parquet"), ("duplicate_id", "part-run1-001.parquet")]
    repaired = repair_output(str(output))  # the misshapen file goes; duplicate ids are the user's call
    assert [p.kind for p in repaired.problems] == ["duplicate_id"] and len(repaired.repaired) == 1


def test_compaction_merges_partition_files_in_one_commit(output):
    for run in ("w1", "w2", "w3"):
        stage_rejects(output, run, [f"part-{run}.parquet"], rows_each=3)
        commit_staged(str(output), run, run)
    before = sorted(open_output(str(output)).execute("SELECT * EXCLUDE (date) FROM rejects").fetchall())
    lines = compact_output(str(output))
    assert lines == ["rejects/date=2026-03-01: 3 files -> 1 (9 rows)"]
    assert len(list((output / "rejects").rglob("*.parquet"))) == 1
    assert sorted(open_output(str(output)).execute("SELECT * EXCLUDE (date) FROM rejects").fetchall()) == before
    assert check_output(str(output)).clean
    assert compact_output(str(output)) == ["nothing to compact: every partition has one file"]


def test_a_compaction_that_dies_leaves_the_old_files(output, monkeypatch):
    for run in ("w1", "w2"):
        stage_rejects(output, run, [f"part-{run}.parquet"])
        commit_staged(str(output), run, run)
    import pipeline.maintenance as maintenance

    def broken_merge(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(maintenance, "merge_files", broken_merge)
    with pytest.raises(OSError):
        compact_output(str(output))
    assert count_rejects(output) == 4 and check_output(str(output)).clean
    assert len(list((output / "rejects").rglob("*.parquet"))) == 2


def test_compaction_respects_table_and_before(output):
    for run, day in (("a", "2026-03-01"), ("b", "2026-03-01"), ("c", "2026-03-05"), ("d", "2026-03-05")):
        stage_rejects(output, run, [f"part-{run}.parquet"], day=day)
        commit_staged(str(output), run, run)
    assert compact_output(str(output), table="quotes") == ["nothing to compact: every partition has one file"]
    assert compact_output(str(output), before="2026-03-02") == ["rejects/date=2026-03-01: 2 files -> 1 (4 rows)"]


# --- the lock ----------------------------------------------------------------------------

HOLD = """
import sys, time
from pipeline.output_lock import OutputLock
with OutputLock(sys.argv[1], "holder-run"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold_lock(output, seconds):
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(output), str(seconds)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_writer_is_refused_with_one_line_naming_the_holder(tmp_path):
    holder = hold_lock(tmp_path, 30)
    try:
        with pytest.raises(OutputLocked) as refused:
            OutputLock(str(tmp_path), "second").acquire()
        message = str(refused.value)
        assert "holder-run" in message and f"pid {holder.pid}" in message and "since" in message
        assert "\n" not in message
    finally:
        holder.kill()
        holder.wait()


def test_a_waiting_writer_gets_the_lock_when_the_holder_ends(tmp_path):
    holder = hold_lock(tmp_path, 1.5)
    started = time.monotonic()
    with OutputLock(str(tmp_path), "second", wait_seconds=60) as lock:
        assert time.monotonic() - started >= 0.5 and lock.taken_over is None
    holder.wait()


def test_the_lock_of_a_killed_run_is_taken_over(tmp_path):
    holder = hold_lock(tmp_path, 60)
    holder.kill()  # SIGKILL: no cleanup ran
    holder.wait()
    with OutputLock(str(tmp_path), "next") as lock:
        assert lock.taken_over["run_id"] == "holder-run"


def test_leases_for_object_stores_refuse_a_live_holder_and_take_over_an_expired_one(tmp_path):
    """The lease code path (used for gs://, s3://) run against a local folder through
    Beam's file systems, which is what it calls on object stores too."""
    first = OutputLock(str(tmp_path), "first", lease_seconds=30, settle_seconds=0.1)
    assert first.try_lease() is None and first.heartbeat.is_alive()
    second = OutputLock(str(tmp_path), "second", lease_seconds=30, settle_seconds=0.1)
    assert second.try_lease()["run_id"] == "first"
    first.stopping.set()
    first.heartbeat.join()
    lease = json.loads((tmp_path / "_lock.json").read_text())
    (tmp_path / "_lock.json").write_text(json.dumps({**lease, "expires_at": time.time() - 1}))
    assert second.try_lease() is None and second.taken_over["run_id"] == "first"
    second.release()
    assert not (tmp_path / "_lock.json").exists()


def test_a_streams_counts_travel_with_its_data_into_each_windows_commit(output):
    """Tally tokens and staged files of two windows meet in CommitWindows: each window's
    record holds its own counts, and committed_counts adds them up for the run."""
    import apache_beam as beam
    from apache_beam.transforms.window import FixedWindows, TimestampedValue
    from conftest import beam_pipeline

    from transforms.sinks.commit import CommitWindows, committed_counts, tally

    events = [({"stage": "parse"}, 5), ({"stage": "fetch"}, 7), ({"stage": "parse"}, 12)]
    with beam_pipeline() as p:
        rejects = (
            p
            | beam.Create(events)
            | beam.Map(lambda e: TimestampedValue(e[0], e[1]))
            | beam.WindowInto(FixedWindows(10))
        )
        tokens = (
            rejects | "Inputs" >> tally("run1", "inputs"),
            rejects | "Rejects" >> tally("run1", "rejects", by="stage"),
        ) | beam.Flatten()
        tokens | CommitWindows(str(output), "run1")
    records = {p.name: json.loads(p.read_text())["note"]["counts"] for p in (output / "_runs").glob("*.commit.json")}
    assert records == {
        "run1-w19700101T000000.commit.json": {"inputs": 2, "rejects": 2, "rejects.parse": 1, "rejects.fetch": 1},
        "run1-w19700101T000010.commit.json": {"inputs": 1, "rejects": 1, "rejects.parse": 1},
    }
    assert committed_counts(str(output), "run1") == {"inputs": 3, "rejects": 3, "rejects.parse": 2, "rejects.fetch": 1}


SLOW_HOLDER = """
import fcntl, json, os, sys, time
descriptor = os.open(os.path.join(sys.argv[1], "_lock"), os.O_RDWR | os.O_CREAT)
os.pwrite(descriptor, json.dumps({"run_id": "before", "released": True}).encode(), 0)
fcntl.flock(descriptor, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(0.5)  # the new holder has the lock but has not written its name yet
os.pwrite(descriptor, json.dumps({"run_id": "slow-writer", "pid": os.getpid()}).encode(), 0)
os.ftruncate(descriptor, len(json.dumps({"run_id": "slow-writer", "pid": os.getpid()})))
time.sleep(30)
"""


def test_a_refusal_names_the_new_holder_even_before_it_wrote_its_name(tmp_path):
    """Between taking the lock and writing its name a holder is anonymous (or the file still
    names the run before it): a second run waits for the name rather than naming the wrong run."""
    holder = subprocess.Popen([sys.executable, "-c", SLOW_HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputLocked) as refused:
            OutputLock(str(tmp_path), "second").acquire()
        assert "slow-writer" in str(refused.value)
    finally:
        holder.kill()
        holder.wait()
