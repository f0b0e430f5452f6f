"""DuckDB over an output the size of 100k articles (`python bench/query_bench.py`).

Running spaCy over 100k articles takes hours here, so the entities table is
synthesised: rows with the ENTITIES schema, a Zipf-like mix of names, 30 mentions
per article over 42 days, written by newsbeam's own writer (zstd, row groups,
one file per partition per run, two runs as two workers would). It measures the
query layer the pipeline's output feeds, not the NLP.
"""

import argparse
import itertools
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from schemas.duckdb_views import open_output  # noqa: E402
from schemas.tables import ENTITIES  # noqa: E402
from transforms.sinks.write import PartitionFiles, commit_files, file_schema, partition_path  # noqa: E402

TOP_ENTITIES_PER_DAY = """
SELECT date, canonical, n FROM (
  SELECT date, canonical, count(*) AS n,
         row_number() OVER (PARTITION BY date ORDER BY count(*) DESC, canonical) AS rank
  FROM entities WHERE date BETWEEN DATE '{first}' AND DATE '{last}'
  GROUP BY date, canonical)
WHERE rank <= 20 ORDER BY date, n DESC"""
ONE_DAY = "SELECT count(*) FROM entities WHERE date = DATE '{day}'"


def entity_rows(rng, article_index: int, day: str, run_id: str, names: list, cum_weights: list):
    article_id = f"{article_index:016x}"
    for mention, name in enumerate(rng.choices(names, cum_weights=cum_weights, k=30)):
        yield {
            "article_id": article_id,
            "text": name.split()[-1],
            "label": "PERSON",
            "start": mention * 40,
            "end": mention * 40 + len(name),
            "canonical": name,
            "run_id": run_id,
            "date": day,
        }


def synthesise(output: str, articles: int, days: int, seed: int = 5) -> None:
    """Entity rows of `articles` articles over `days` days, written the way a batch run
    on two workers writes them: each worker's bundle gets articles of every day in
    input order and streams them through the batch writer (PartitionFiles), then the
    files are committed per partition."""
    rng = random.Random(seed)
    names = [f"Person {i} Name{i}" for i in range(5000)]
    cum_weights = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(names))))
    first = date(2026, 1, 5)
    run_id = "bench"
    folder_of = lambda day: partition_path(output, "entities", day)  # noqa: E731
    bundles = [PartitionFiles(file_schema(ENTITIES), folder_of, run_id) for _ in range(2)]
    for index in range(articles):
        day = (first + timedelta(days=rng.randrange(days))).isoformat()
        for row in entity_rows(rng, index, day, run_id, names, cum_weights):
            bundles[index % 2].add(day, row)
    temporary = {}
    for bundle in bundles:
        for day, path in bundle.close():
            temporary.setdefault(day, []).append(path)
    for day, paths in temporary.items():
        commit_files(folder_of(day), run_id, paths)


def timed(con, sql: str, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        con.execute(sql).fetchall()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=42)
    args = parser.parse_args(argv)
    output = tempfile.mkdtemp(prefix="newsbeam-query-bench-")
    start = time.perf_counter()
    synthesise(output, args.articles, args.days)
    files = [os.path.join(d, f) for d, _, fs in os.walk(output) for f in fs]
    print(
        f"synthesised {args.articles} articles' entities ({args.articles * 30} rows) in "
        f"{time.perf_counter() - start:.1f} s: {len(files)} files, "
        f"{sum(os.path.getsize(f) for f in files) / 2**20:.1f} MiB"
    )
    con = open_output(output)
    week = TOP_ENTITIES_PER_DAY.format(first="2026-01-12", last="2026-01-18")
    print(f"top 20 entities per day for a week: median {timed(con, week) * 1000:.0f} ms over 5 runs")
    day = ONE_DAY.format(day="2026-01-14")
    print(f"one-day count: median {timed(con, day) * 1000:.0f} ms")
    plan = con.execute("EXPLAIN ANALYZE " + day).fetchall()
    print("\n".join(row[1] for row in plan))
    return 0


if __name__ == "__main__":
    sys.exit(main())
