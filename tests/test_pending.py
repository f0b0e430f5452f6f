"""Pending signature files (transforms/dedup/pending.py), without Beam."""

from datetime import datetime, timezone

from transforms.dedup.decide import Decisions
from transforms.dedup.near_duplicates import article_key, compact_signature, record_from_signature, signature_row
from transforms.dedup.pending import (
    SLIM_FIELDS,
    STORED_PREFIX,
    file_shard,
    id_shard,
    pending_records,
    pending_row,
    pending_rows,
    read_pending,
    stored_pending_row,
    winner_signatures,
    write_pending,
)

TEXT = " ".join(f"word{i % 97} story{i % 13} line{i}" for i in range(120))


def article(article_id: str, input_name: str, text: str = TEXT) -> dict:
    return {
        "article_id": article_id,
        "input": input_name,
        "canonical_url": f"https://example.org/{article_id}",
        "content_hash": "c" * 32,
        "published_at": datetime(2026, 3, 1, tzinfo=timezone.utc),
        "date": "2026-03-01",
        "run_id": "r1",
        "word_count": len(text.split()),
        "text": text,
    }


def test_pending_files_keep_what_records_and_signatures_need(tmp_path):
    arts = [article("a", "f.json#1"), article("b", "f.json#2", TEXT + " more words here"), article("c", "g.txt")]
    paths = write_pending(str(tmp_path / "pending"), [pending_row(article_key(a)) for a in arts])
    assert sum(read_pending(path).num_rows for path in paths) == 3 and all(p.endswith(".pending") for p in paths)
    # a record read back is the record of the article's key row
    (record,) = [r for path in paths for r in pending_records(path, {"b": True})]
    assert record == record_from_signature(article_key(arts[1]), existing=False)
    assert sorted(row["article_id"] for path in paths for row in pending_rows(path, {"a", "c", "zzz"})) == ["a", "c"]
    assert all(pending_rows(path, {}) == [] for path in paths)


def test_pending_files_hold_one_id_shard_each(tmp_path):
    """A verifying worker reads the files of two id shards only: each file holds one."""
    arts = [article(f"{n:016x}", f"f.json#{n}") for n in range(60)]
    paths = write_pending(str(tmp_path), [pending_row(article_key(a)) for a in arts])
    shards = [file_shard(path) for path in paths]
    assert len(set(shards)) == len(paths) > 4  # 60 ids fall in many of the 16 shards
    for path, shard in zip(paths, shards):
        assert {id_shard(a) for a in read_pending(path).column("article_id").to_pylist()} == {shard}
    assert sorted(a for p in paths for a in read_pending(p).column("article_id").to_pylist()) == sorted(
        a["article_id"] for a in arts
    )


def test_stored_signatures_staged_read_back_as_stored_records(tmp_path):
    stored = signature_row(article("s", "old.json#1"), run_id="r0")
    for row in (stored, compact_signature(stored)):  # as read from Parquet, or compact
        (path,) = write_pending(str(tmp_path / row["article_id"]), [stored_pending_row(row)], STORED_PREFIX)
        (record,) = list(pending_records(path, {"s"}))
        assert record == record_from_signature(stored, existing=True) and record.existing


def test_winner_signatures_are_the_signatures_of_winning_inputs(tmp_path):
    arts = [article("a", "f.json#1"), article("b", "f.json#2"), article("c", "g.txt"), article("a", "copy/f.json#1")]
    paths = write_pending(str(tmp_path), [pending_row(article_key(a)) for a in arts])
    decisions = Decisions.build(
        [
            ("f.json#1", ("a", None, None, None)),  # a winner
            ("f.json#2", ("b", "a", "content", None)),  # a duplicate: no signature
            ("g.txt", ("other", None, None, None)),  # the input changed between reads: not this article
        ]  # copy/f.json#1: skipped (same article read twice), no decision
    )
    rows = [row for path in paths for row in winner_signatures(path, decisions)]
    assert rows == [signature_row(arts[0])]


def test_slim_rows_keep_what_decisions_need():
    key = article_key(article("a", "f.json#1"))
    assert {"article_id", "input", "content_hash", "canonical_url", "published_at", "text_length"} <= set(SLIM_FIELDS)
    assert not {"sketch", "minhash", "text"} & set(SLIM_FIELDS) and set(SLIM_FIELDS) <= set(key)
