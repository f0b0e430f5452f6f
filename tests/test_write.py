import os
from datetime import datetime, timezone

import apache_beam as beam
import duckdb
import pyarrow.parquet as pq

from conftest import beam_pipeline
from schemas.tables import REJECTS
from transforms.rejects import finalize_reject, make_reject
from transforms.write import WriteTable, file_schema, write_partition

T1 = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
T2 = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)


def reject_rows(count, when):
    return [finalize_reject(make_reject(f"/in/{when.day}-{i}", "parse", "bad_json", "x"), "run1", when)
            for i in range(count)]


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


def test_write_table_partitions_by_date_readable_by_duckdb(tmp_path):
    rows = reject_rows(2, T1) + reject_rows(3, T2)
    with beam_pipeline() as p:
        p | beam.Create(rows) | WriteTable(REJECTS, str(tmp_path), "run1")
    files = sorted(os.path.relpath(os.path.join(d, f), tmp_path) for d, _, fs in os.walk(tmp_path) for f in fs)
    assert files == ["rejects/date=2026-03-01/part-run1.parquet", "rejects/date=2026-03-02/part-run1.parquet"]
    counts = duckdb.sql(
        f"SELECT date::VARCHAR, count(*) FROM read_parquet('{tmp_path}/rejects/**/*.parquet', "
        "hive_partitioning=true) GROUP BY 1 ORDER BY 1").fetchall()
    assert counts == [("2026-03-01", 2), ("2026-03-02", 3)]
