"""`newsbeam run` end to end: real Parquet written, read back with DuckDB."""

import json
import os
import shutil

import pytest
from conftest import SEEDS

from pipeline.cli import main
from schemas.duckdb_views import open_output


def run(capsys, *args) -> tuple[int, str]:
    code = main(["run", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def rows(output, sql):
    return open_output(str(output)).execute(sql).fetchall()


def table_snapshot(output) -> dict:
    """Every table's rows, without the columns that differ between runs."""
    con = open_output(str(output))
    return {
        "articles": con.execute(
            "SELECT * EXCLUDE (run_id, ingested_at, published_at, date) FROM articles ORDER BY article_id"
        ).fetchall(),
        "entities": con.execute("SELECT * EXCLUDE (run_id, date) FROM entities ORDER BY ALL").fetchall(),
        "quotes": con.execute("SELECT * EXCLUDE (run_id, date) FROM quotes ORDER BY ALL").fetchall(),
        "rejects": con.execute("SELECT reject_id, input, stage, error FROM rejects ORDER BY ALL").fetchall(),
    }


@pytest.fixture(scope="module")
def seeds_output(tmp_path_factory):
    output = tmp_path_factory.mktemp("seeds-run") / "out"
    code = main(["run", "--input", str(SEEDS), "--output", str(output)])
    assert code == 0
    return output


def test_seed_article_row(seeds_output):
    ((title, source, inferred, text_source, dup),) = rows(
        seeds_output,
        "SELECT title, source, date_inferred, text_source, duplicate_of FROM articles "
        "WHERE input LIKE '%000_985378199c8bf71d.txt'",
    )
    assert title == "Russia Pulls Ambassador from US" and source == "000_985378199c8bf71d.txt"
    assert inferred is True and text_source == "file" and dup is None


def test_feed_seed_gives_one_article_per_entry_with_utc_dates(seeds_output):
    found = rows(
        seeds_output,
        "SELECT title, strftime(published_at, '%Y-%m-%d %H:%M'), date::VARCHAR "
        "FROM articles WHERE text_source = 'feed' ORDER BY published_at",
    )
    assert [f[1:] for f in found] == [
        ("2026-03-11 08:30", "2026-03-11"),
        ("2026-03-12 17:05", "2026-03-12"),
        ("2026-03-13 08:00", "2026-03-13"),
    ]


def test_seed_entities_are_canonical(seeds_output):
    canonicals = {
        r[0]
        for r in rows(
            seeds_output,
            "SELECT canonical FROM entities JOIN articles USING (article_id) "
            "WHERE articles.input LIKE '%000_985378199c8bf71d.txt'",
        )
    }
    for name in ("Joe Biden", "Putin", "Dmitry Peskov", "Maria Zakharova", "Jen Psaki"):
        assert any(name in c for c in canonicals), (name, canonicals)
    biden = rows(seeds_output, "SELECT DISTINCT canonical FROM entities WHERE text = 'Biden'")
    assert biden == [("Joe Biden",)]


def test_seed_quotes_have_their_speakers(seeds_output):
    quotes = rows(seeds_output, "SELECT speaker, text FROM quotes")
    by_speaker = {}
    for speaker, text in quotes:
        by_speaker.setdefault(speaker, []).append(text)
    assert any(t.startswith("These are very bad statements") for t in by_speaker.get("Dmitry Peskov", []))
    assert any(t.startswith("The most important thing") for t in by_speaker.get("Maria Zakharova", []))
    # speakers who are named entities join to the entities table
    unjoined = rows(
        seeds_output,
        "SELECT q.speaker FROM quotes q WHERE q.speaker_label = 'PERSON' AND NOT EXISTS "
        "(SELECT 1 FROM entities e WHERE e.article_id = q.article_id AND e.canonical = q.speaker)",
    )
    assert unjoined == []


def test_run_summary_balances(seeds_output):
    (summary_file,) = [f for f in os.listdir(seeds_output / "_runs") if not f.endswith(".commit.json")]
    summary = json.loads((seeds_output / "_runs" / summary_file).read_text())
    assert summary["balanced"] and summary["inputs"] == 4 and summary["articles"] == 4
    assert rows(seeds_output, "SELECT count(*) FROM articles") == [(4,)]
    # committed: a checkpoint holds the articles with their entities, quotes and signatures,
    # the run's own commit the rest; the records list every table file in place, staging is gone
    records = {p.name: json.loads(p.read_text()) for p in (seeds_output / "_runs").glob("*.commit.json")}
    run_id = summary["run_id"]
    assert f"{run_id}.commit.json" in records and len(records) == 2
    (checkpoint,) = [r for name, r in records.items() if name != f"{run_id}.commit.json"]
    assert {f["table"] for f in checkpoint["files"]} == {"articles", "entities", "quotes", "signatures"}
    in_place = sorted(str(p.relative_to(seeds_output)) for p in seeds_output.glob("*/date=*/*.parquet"))
    assert sorted(f["path"] for r in records.values() for f in r["files"]) == in_place and in_place
    assert not (seeds_output / "_staging").exists()


def test_rerun_into_same_output_adds_nothing(tmp_path, capsys):
    output = tmp_path / "out"
    assert run(capsys, "--input", str(SEEDS), "--output", str(output), "--no-nlp")[0] == 0
    first = table_snapshot(output)
    code, printed = run(capsys, "--input", str(SEEDS), "--output", str(output), "--no-nlp")
    assert code == 0 and "articles=0" in printed and "already_ingested=4" in printed
    assert table_snapshot(output) == first
    assert rows(output, "SELECT count(*) - count(DISTINCT article_id) FROM articles") == [(0,)]
    leftovers = [f for _, _, fs in os.walk(output) for f in fs if f.startswith(".")]
    assert leftovers == []


def test_bad_inputs_become_rejects_and_the_run_goes_on(tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(SEEDS / "000_985378199c8bf71d.txt", inputs / "good.txt")
    (inputs / "empty.txt").write_bytes(b"")
    (inputs / "binary.dat").write_bytes(bytes(range(256)) * 4)
    (inputs / "corrupt.json").write_text('{"title": "half a rec')
    (inputs / "latin1.txt").write_bytes(b"Titre\n\nCaf\xe9 cr\xe8me")
    (inputs / "bad.txt.gz").write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    output = tmp_path / "out"
    code, printed = run(capsys, "--input", str(inputs), "--output", str(output), "--no-nlp")
    assert code == 0 and "inputs=6 articles=1 duplicates=0 rejects=5" in printed and ": ok]" in printed
    found = rows(output, "SELECT regexp_extract(input, '[^/]+$'), stage, error FROM rejects ORDER BY 1")
    assert found == [
        ("bad.txt.gz", "read", "bad_gzip"),
        ("binary.dat", "parse", "binary"),
        ("corrupt.json", "parse", "bad_json"),
        ("empty.txt", "parse", "empty_text"),
        ("latin1.txt", "parse", "undecodable"),
    ]
    # a rerun records the same rejects once
    run(capsys, "--input", str(inputs), "--output", str(output), "--no-nlp")
    assert rows(output, "SELECT count(*) FROM rejects") == [(5,)]


@pytest.mark.parametrize(
    "args, reason",
    [
        (["--output", "x"], "at least one --input"),
        (["--input", "/no/such/path", "--output", "x"], "input not found"),
        (["--input", str(SEEDS)], "--output DIR is required"),
        (["--input", str(SEEDS), "--output", str(SEEDS / "out")], "overlaps input"),
        (["--input", str(SEEDS), "--output", "x", "--nlp-batch-chars", "0"], "--nlp-batch-chars must be positive"),
        (["--input", str(SEEDS), "--output", "x", "--wait-for-lock", "-1"], "--wait-for-lock takes seconds"),
    ],
)
def test_unusable_arguments_exit_non_zero_with_one_line(capsys, args, reason):
    code, printed = run(capsys, *args)
    assert code == 2 and reason in printed and len(printed.strip().splitlines()) == 1


def test_big_json_lines_file_on_two_workers_lands_each_article_once(tmp_path, capsys):
    """A JSON-lines file bigger than a read range, named twice, on two worker processes:
    pass 1 decides on key rows, pass 2 re-reads the ranges and writes each article once,
    at most one file per partition per worker, no temporary file left."""
    from conftest import MULTI_WORKER_ARGS

    inputs = tmp_path / "in"
    inputs.mkdir()
    story = "The council met on {day} March and debated item {i} of the agenda at length. " * 20
    with open(inputs / "wire.jsonl", "w") as handle:
        for i in range(400):
            handle.write(
                json.dumps(
                    {
                        "title": f"Item {i}",
                        "text": story.format(day=1 + i % 3, i=i) + f"Ref {i}.",
                        "url": f"https://example.org/item/{i}",
                        "published": f"2026-03-0{1 + i % 3}T10:00:00Z",
                    }
                )
                + "\n"
            )
    assert os.path.getsize(inputs / "wire.jsonl") > 2 * 256 * 1024
    output = tmp_path / "out"
    code, printed = run(
        capsys,
        "--input",
        str(inputs),
        "--input",
        str(inputs / "wire.jsonl"),
        "--output",
        str(output),
        "--no-nlp",
        *MULTI_WORKER_ARGS,
    )
    assert code == 0 and "inputs=400 " in printed and "[inputs = articles + duplicates + rejects: ok]" in printed
    assert rows(output, "SELECT count(*), count(DISTINCT input), count(DISTINCT article_id) FROM articles") == [
        (400, 400, 400)
    ]
    assert rows(output, "SELECT count(*) FROM signatures") == rows(
        output, "SELECT count(*) FROM articles WHERE duplicate_of IS NULL"
    )
    files = [os.path.join(d, f) for d, _, fs in os.walk(output / "articles") for f in fs]
    per_partition = {}
    for path in files:
        per_partition.setdefault(os.path.dirname(path), []).append(os.path.basename(path))
    assert len(per_partition) == 3
    assert all(
        1 <= len(names) <= 2 and all(n.startswith("part-") and n.endswith(".parquet") for n in names)
        for names in per_partition.values()
    )


def test_an_input_that_changes_or_vanishes_between_the_two_reads_is_a_reject(tmp_path, capsys, monkeypatch):
    """A batch run reads files twice (decide, then write). A file edited or deleted in
    between must not disappear without a trace: it becomes a `changed_during_run`
    reject, and the summary still balances."""
    import transforms.ingest.read as read

    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("stays", "changes", "vanishes"):
        (inputs / f"{name}.txt").write_text(f"{name.title()}\n\nThe {name} story has a body of its own.\n")
    reads = {}
    real_read_file = read.read_file

    def read_file_as_others_write(path, *args, **kwargs):
        name = os.path.basename(read.real_path(path))
        reads[name] = reads.get(name, 0) + 1
        if reads[name] == 2 and name == "changes.txt":
            (inputs / name).write_text("Changes\n\nSomeone rewrote this story while the run was going.\n")
        if reads[name] == 2 and name == "vanishes.txt":
            (inputs / name).unlink()
        return real_read_file(path, *args, **kwargs)

    monkeypatch.setattr(read, "read_file", read_file_as_others_write)
    output = tmp_path / "out"
    code, printed = run(capsys, "--input", str(inputs), "--output", str(output), "--no-nlp")
    assert reads == {"stays.txt": 2, "changes.txt": 2, "vanishes.txt": 2}
    assert code == 0 and "inputs=3 articles=1 duplicates=0 rejects=2 (read=2)" in printed and ": ok]" in printed
    assert rows(output, "SELECT regexp_extract(input, '[^/]+$'), stage, error FROM rejects ORDER BY 1") == [
        ("changes.txt", "read", "changed_during_run"),
        ("vanishes.txt", "read", "changed_during_run"),
    ]
    assert rows(output, "SELECT title FROM articles") == [("Stays",)]
