"""Deduplication through `newsbeam run`, within a run and across runs, read back with DuckDB."""

import json

from test_dedup import OTHER, STORY

from pipeline.cli import main
from schemas.duckdb_views import open_output

REWRITE = (
    "The transport authority has postponed the new campus bus line until January, blaming a "
    "shortage of drivers and late delivery of electric buses from the manufacturer. Students "
    "said they were disappointed, and the union called the delay a broken promise to riders."
)


def write_json(folder, name, records):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(records))


def run(capsys, inputs, output):
    code = main(["run", "--input", str(inputs), "--output", str(output), "--no-nlp"])
    return code, capsys.readouterr().out


def rows(output, sql):
    return open_output(str(output)).execute(sql).fetchall()


def record(url, text, published, title="T"):
    return {"title": title, "text": text, "url": url, "published": published}


def test_duplicates_revisions_and_cross_run_near_duplicates(tmp_path, capsys):
    output = tmp_path / "out"
    write_json(
        tmp_path / "run1",
        "a.json",
        [
            record("https://www.example.com/quay?utm_source=x", STORY, "2026-03-01T08:00:00Z", "Quay"),
            record("http://m.example.com/quay#top", STORY, "2026-03-01T08:30:00Z", "Quay (mobile)"),
            record("https://mirror.example.org/quay", STORY.upper(), "2026-03-01T09:00:00Z", "QUAY"),
            record(
                "https://other.example.net/copy",
                "(Wire) — " + STORY + " Share this article.",
                "2026-03-01T10:00:00Z",
                "Quay extended",
            ),
            record("https://example.com/bus", OTHER, "2026-03-02T08:00:00Z", "Bus"),
        ],
    )
    code, printed = run(capsys, tmp_path / "run1", output)
    # same canonical URL and content: one article (the mobile copy is the same id, counted once)
    assert code == 0 and "articles=2 duplicates=3 (content=1, near=1, same_article=1)" in printed
    first = rows(output, "SELECT title, duplicate_reason FROM articles ORDER BY published_at")
    assert first == [("Quay", None), ("QUAY", "content"), ("Quay extended", "near"), ("Bus", None)]

    write_json(
        tmp_path / "run2",
        "b.json",
        [
            record(
                "https://example.com/bus?fbclid=1",
                OTHER + " Update: the first buses ran on Monday.",
                "2026-03-03T08:00:00Z",
                "Bus (updated)",
            ),  # same story, small edit
            record("https://example.com/bus", REWRITE, "2026-03-04T08:00:00Z", "Bus rewritten"),  # same URL, new text
            record(
                "https://fourth.example.org/q",
                STORY + " Sign up for our newsletter.",
                "2026-03-05T08:00:00Z",
                "Quay again",
            ),  # near copy of stored
        ],
    )
    code, printed = run(capsys, tmp_path / "run2", output)
    assert code == 0 and "articles=1 duplicates=2 (near=1, url=1)" in printed
    second = dict(
        rows(
            output,
            "SELECT title, coalesce(duplicate_reason, 'revision_of:' || "
            "(SELECT title FROM articles o WHERE o.article_id = a.revision_of)) "
            "FROM articles a WHERE published_at > '2026-03-02T12:00:00Z'",
        )
    )
    assert second == {"Bus (updated)": "url", "Bus rewritten": "revision_of:Bus", "Quay again": "near"}
    latest = rows(output, "SELECT title FROM latest_articles ORDER BY title")
    assert latest == [("Bus rewritten",), ("Quay",)]
    assert rows(output, "SELECT count(*) FROM signatures") == [(3,)]
    # each run's summary says how large its band buckets got and how many pairs they made
    summaries = [
        json.loads(path.read_text()) for path in sorted((output / "_runs").glob("*.json")) if ".commit" not in path.name
    ]
    assert [s["largest_band_bucket"] >= 2 and s["candidate_pairs"] >= 1 for s in summaries] == [True, True]
