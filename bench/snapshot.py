"""The tables of an output as two runs on different runners must give them alike:
every table, without run ids and ingest times (and the dates derived from them).
Used by bench/cluster_nlp.py and by the runner tests (tests/test_runners.py)."""

from schemas.duckdb_views import open_output


def comparable_tables(output) -> dict:
    con = open_output(str(output))
    published = "CASE WHEN date_inferred THEN NULL ELSE published_at END"
    return {
        "articles": con.execute(
            f"SELECT * EXCLUDE (run_id, ingested_at, published_at, date), {published} FROM articles ORDER BY article_id"
        ).fetchall(),
        "entities": con.execute("SELECT * EXCLUDE (run_id, date) FROM entities ORDER BY ALL").fetchall(),
        "quotes": con.execute("SELECT * EXCLUDE (run_id, date) FROM quotes ORDER BY ALL").fetchall(),
        "signatures": con.execute(
            "SELECT * EXCLUDE (run_id, date, published_at) FROM signatures ORDER BY article_id"
        ).fetchall(),
        "rejects": con.execute("SELECT reject_id, input, stage, error FROM rejects ORDER BY ALL").fetchall(),
    }
