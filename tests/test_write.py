import os
from datetime import datetime, timedelta, timezone

import apache_beam as beam
import duckdb
import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems
from apache_beam.testing.util import assert_that, equal_to
from conftest import MULTI_WORKER_ARGS, beam_pipeline

from schemas.tables import REJECTS
from transforms.rejects import finalize_reject, make_reject
from transforms.sinks.write import (
    MAX_PYTHON_BYTES,
    PartitionFiles,
    WriteTable,
    WriteTableInBundles,
    approximate_size,
    commit_files,
    file_schema,
    write_partition,
)

T1 = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
T2 = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)


def reject_rows(count, when):
    return [
        finalize_reject(make_reject(f"/in/{when.day}-{i}", "parse", "bad_json", "x"), "run1", when)
        for i in range(count)
    ]


def test_write_partition_lands_one_file_and_no_temporaries(tmp_path):
    folder = tmp_path / "rejects" / "date=2026-03-01"
    path = write_partition(iter(reject_rows(3, T1)), file_schema(REJECTS), str(folder), "part-run1.parquet")
    assert os.listdir(folder) == ["part-run1.parquet"] and path.endswith("part-run1.parquet")
    table = pq.read_table(path)
    assert table.num_rows == 3 and "date" not in table.column_names
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"


def test_nothing_to_write_leaves_no_file(tmp_path):
    folder = tmp_path / "t"
    assert write_partition(iter([]), file_schema(REJECTS), str(folder), "p.parquet") is None
    assert os.listdir(folder) == []


def test_write_table_stages_partitions_by_date_readable_by_duckdb(tmp_path):
    """WriteTable stages its files under the commit of their window (the global window:
    the run's own id) and says which commit each belongs to; nothing is in place yet."""
    rows = reject_rows(2, T1) + reject_rows(3, T2)
    with beam_pipeline() as p:
        written = p | beam.Create(rows) | WriteTable(REJECTS, str(tmp_path), "run1")
        assert_that(
            written | beam.Map(lambda cp: (cp[0], os.path.relpath(cp[1], tmp_path))),
            equal_to(
                [
                    ("run1", "_staging/run1/rejects/date=2026-03-01/part-run1.parquet"),
                    ("run1", "_staging/run1/rejects/date=2026-03-02/part-run1.parquet"),
                ]
            ),
        )
    assert all_files(tmp_path) == [
        "_staging/run1/rejects/date=2026-03-01/part-run1.parquet",
        "_staging/run1/rejects/date=2026-03-02/part-run1.parquet",
    ]
    counts = duckdb.sql(
        f"SELECT date::VARCHAR, count(*) FROM read_parquet('{tmp_path}/_staging/run1/rejects/**/*.parquet', "
        "hive_partitioning=true) GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert counts == [("2026-03-01", 2), ("2026-03-02", 3)]


def all_files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def test_partition_files_bound_what_they_buffer(tmp_path):
    rows = reject_rows(3000, T1) + reject_rows(2000, T2)
    files = PartitionFiles(file_schema(REJECTS), lambda part: str(tmp_path / part), "run1", max_bytes=20_000)
    for row in rows:
        files.add(row["date"], row)
        assert files.buffered_bytes <= 20_000 and all(len(held) <= 500 for held in files.rows.values())
    written = files.close()
    assert [partition for partition, _ in written] == ["2026-03-01", "2026-03-02"]
    assert all(os.path.basename(path).startswith(".part-run1-") for _, path in written)
    first = pq.ParquetFile(written[0][1])
    assert first.metadata.num_rows == 3000 and first.metadata.num_row_groups > 1  # written as it went


def test_partition_files_bound_python_rows_over_many_partitions(tmp_path):
    # 200 dates, rows carrying 20 KB each: no partition reaches its own batch size,
    # so only the bound over all partitions keeps the Python rows from piling up.
    days = [datetime(2026, 1, 1, 12, tzinfo=timezone.utc) + timedelta(days=d) for d in range(200)]
    rows = [{**row, "detail": "x" * 20_000} for _ in range(5) for day in days for row in reject_rows(1, day)]
    files = PartitionFiles(file_schema(REJECTS), lambda part: str(tmp_path / part), "run1")
    assert len(rows) * approximate_size(rows[0]) > 4 * MAX_PYTHON_BYTES
    for row in rows:
        files.add(row["date"], row)
        assert files.python_bytes == sum(files.row_bytes.values()) <= MAX_PYTHON_BYTES
    written = files.close()
    assert len(written) == 200
    assert sum(pq.ParquetFile(path).metadata.num_rows for _, path in written) == len(rows)
    assert all(pq.ParquetFile(path).metadata.num_row_groups == 1 for _, path in written)


def test_partition_files_make_big_row_groups_from_small_batches(tmp_path):
    rows = [row for day in range(3) for row in reject_rows(1500, datetime(2026, 3, 1 + day, 12, tzinfo=timezone.utc))]
    files = PartitionFiles(file_schema(REJECTS), lambda part: str(tmp_path / part), "run1")
    for i in range(1500):  # the days interleaved, as inputs come
        for day in range(3):
            files.add(rows[day * 1500 + i]["date"], rows[day * 1500 + i])
    for _, path in files.close():
        metadata = pq.ParquetFile(path).metadata
        assert metadata.num_rows == 1500 and metadata.num_row_groups == 1


def test_commit_renames_is_idempotent_and_drops_failed_attempts(tmp_path):
    folder = tmp_path / "date=2026-03-01"
    files = PartitionFiles(file_schema(REJECTS), lambda part: str(folder), "run1")
    for row in reject_rows(2, T1):
        files.add(row["date"], row)
    ((_, kept),) = files.close()
    (folder / ".part-run1-failedattempt.tmp").write_bytes(b"half a file")
    (folder / ".part-run2-other-run.tmp").write_bytes(b"another run at work")
    assert commit_files(str(folder), "run1", [kept]) == [str(folder / "part-run1-000.parquet")]
    assert commit_files(str(folder), "run1", [kept]) == [str(folder / "part-run1-000.parquet")]  # a retry
    assert sorted(os.listdir(folder)) == [".part-run2-other-run.tmp", "part-run1-000.parquet"]
    assert pq.read_table(folder / "part-run1-000.parquet").num_rows == 2


def test_commit_on_a_file_system_that_raises_for_no_match_but_not_on_other_errors(tmp_path, monkeypatch):
    folder = tmp_path / "date=2026-03-01"
    files = PartitionFiles(file_schema(REJECTS), lambda part: str(folder), "run1")
    for row in reject_rows(2, T1):
        files.add(row["date"], row)
    ((_, kept),) = files.close()

    def no_match(patterns):
        raise BeamIOError("Match operation failed", {patterns[0]: FileNotFoundError(patterns[0])})

    monkeypatch.setattr(FileSystems, "match", no_match)
    assert commit_files(str(folder), "run1", [kept]) == [str(folder / "part-run1-000.parquet")]

    def broken(patterns):
        raise ValueError("not a file system path")

    monkeypatch.setattr(FileSystems, "match", broken)
    with pytest.raises(ValueError, match="not a file system path"):
        commit_files(str(folder), "run1", [kept])


def test_write_table_in_bundles_on_two_workers_lands_every_row(tmp_path):
    rows = reject_rows(40, T1) + reject_rows(30, T2)
    with beam_pipeline(*MULTI_WORKER_ARGS) as p:
        p | beam.Create(rows) | WriteTableInBundles(REJECTS, str(tmp_path), "run1")
    files = all_files(tmp_path)
    assert files and all(f.split("/")[-1].startswith("part-run1-") and f.endswith(".parquet") for f in files)
    assert len([f for f in files if "2026-03-01" in f]) <= 2  # at most one per partition per worker
    counts = duckdb.sql(
        f"SELECT date::VARCHAR, count(*), count(DISTINCT input) FROM read_parquet('{tmp_path}/rejects/**/*.parquet', "
        "hive_partitioning=true) GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert counts == [("2026-03-01", 40, 40), ("2026-03-02", 30, 30)]
