"""Analysed articles written in checkpoints (transforms/sinks/checkpoints.py); crashes around
them are in test_faults.py."""

import json
from datetime import datetime, timezone

import apache_beam as beam
import duckdb
import pytest
from conftest import beam_pipeline

from schemas.duckdb_views import open_output
from transforms.articles import finalize_article
from transforms.rejects import make_reject
from transforms.sinks.checkpoints import WriteAnalysed, analysed_rows, committed_checkpoints
from transforms.sinks.commit import commit_staged, committed_files, prepare_output

WHEN = datetime(2026, 3, 1, tzinfo=timezone.utc)
STORY = (
    "The harbour board voted on Tuesday to extend the northern quay by two hundred metres, a project "
    "discussed for a decade that will cost about forty million euros, its chair Ana Ruiz said. "
) * 3


def analysed(n: int, duplicate_of=None, failed=False) -> dict:
    article = finalize_article(
        {
            "input": f"/in/{n}.txt",
            "url": None,
            "source": None,
            "title": f"Story {n}",
            "text": f"{STORY} Item {n}.",
            "authors": [],
            "language": None,
            "published_at": WHEN,
            "text_source": "file",
        },
        "run1",
        WHEN,
    )
    article = {**article, "duplicate_of": duplicate_of, "duplicate_reason": "near" if duplicate_of else None}
    key = {"article_id": article["article_id"], "run_id": "run1", "date": article["date"]}
    return {
        "article": article,
        "entities": []
        if duplicate_of
        else [{**key, "text": "Ana Ruiz", "label": "PERSON", "start": 150, "end": 158, "canonical": "Ana Ruiz"}],
        "quotes": [],
        "rejects": [make_reject(f"article:{article['article_id']}", "nlp", "nlp_failed", "boom")] if failed else [],
    }


def test_an_analysed_winner_writes_its_rows_and_signature_a_duplicate_only_itself():
    winner = dict(analysed_rows(analysed(1, failed=True), "run1", WHEN))  # one row of each table
    assert sorted(winner) == ["articles", "entities", "rejects", "signatures"]
    assert winner["signatures"]["article_id"] == winner["articles"]["article_id"]
    assert winner["rejects"]["stage"] == "nlp" and winner["rejects"]["date"] == "2026-03-01"
    duplicate = [t for t, _ in analysed_rows(analysed(2, duplicate_of="x"), "run1", WHEN)]
    assert duplicate == ["articles"]


def test_without_checkpoints_everything_is_staged_for_the_runs_own_commit(tmp_path):
    output = str(tmp_path / "out")
    prepare_output(output)
    with beam_pipeline() as p:
        (
            p
            | beam.Create([analysed(n) for n in range(5)] + [analysed(9, duplicate_of="x")])
            | WriteAnalysed(output, "run1", WHEN, checkpoint_seconds=None)
        )
    assert committed_files(output, "articles") == [] and committed_checkpoints(output, "run1") == 0
    staged = sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out" / "_staging").rglob("*.parquet"))
    assert [str(p) for p in staged] == [
        f"_staging/run1/{table}/date=2026-03-01/part-run1-000.parquet"
        for table in ("articles", "entities", "signatures")
    ]
    commit_staged(output, "run1", "run1")
    assert open_output(output).execute("SELECT count(*) FROM articles").fetchone() == (6,)


@pytest.mark.parametrize("seconds, checkpoints", [(3600, 1), (1e-9, 6)])
def test_checkpoints_commit_whole_articles_as_they_go(tmp_path, seconds, checkpoints):
    """Every checkpoint_seconds (here: every article, or once at the end of the bundle),
    a commit whose files hold whole articles: each entity and signature row is in the
    same commit as its article."""
    output = str(tmp_path / "out")
    prepare_output(output)
    with beam_pipeline() as p:
        p | beam.Create([analysed(n) for n in range(6)]) | WriteAnalysed(output, "run1", WHEN, seconds)
    assert committed_checkpoints(output, "run1") == checkpoints
    for record_path in (tmp_path / "out" / "_runs").glob("run1-c*.commit.json"):
        record = json.loads(record_path.read_text())
        files = {f["table"]: str(tmp_path / "out" / f["path"]) for f in record["files"]}
        ids = {
            table: set(r[0] for r in duckdb.sql(f"SELECT article_id FROM '{path}'").fetchall())
            for table, path in files.items()
        }
        assert ids["entities"] == ids["signatures"] == ids["articles"] and ids["articles"]
    assert open_output(output).execute("SELECT count(*), count(DISTINCT article_id) FROM articles").fetchone() == (6, 6)
