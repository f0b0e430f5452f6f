import gzip
import os
from datetime import datetime, timezone

import pytest

from transforms.read import list_files, read_file

NOW = datetime(2026, 11, 28, tzinfo=timezone.utc)


def test_directory_is_listed_recursively_without_hidden_files(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.txt").write_text("x")
    (tmp_path / "two.json").write_text("{}")
    (tmp_path / ".DS_Store").write_text("x")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("x")
    assert [os.path.relpath(p, tmp_path) for p in list_files(str(tmp_path))] == ["two.json", "a/one.txt"]


def test_glob_is_expanded(tmp_path):
    for name in ("a.txt", "b.txt", "c.json"):
        (tmp_path / name).write_text("x")
    assert [os.path.basename(p) for p in list_files(str(tmp_path / "*.txt"))] == ["a.txt", "b.txt"]


def test_too_large_and_gzip_bombs_are_rejected(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 2000)
    assert list(read_file(str(big), NOW, limit=1000))[0]["error"] == "too_large"
    bomb = tmp_path / "bomb.txt.gz"
    bomb.write_bytes(gzip.compress(b"x" * 5000))
    assert list(read_file(str(bomb), NOW, limit=1000))[0]["error"] == "bad_gzip"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file_is_a_read_reject(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text("x")
    path.chmod(0)
    assert list(read_file(str(path), NOW))[0]["error"] == "unreadable"


def test_vanished_file_is_a_read_reject(tmp_path):
    reject = list(read_file(str(tmp_path / "gone.txt"), NOW))[0]
    assert (reject["stage"], reject["error"]) == ("read", "unreadable")


def test_jsonl_files_are_cut_into_line_ranges_that_parse_like_the_whole_file(tmp_path):
    import json

    from transforms.parse import parse_raw
    from transforms.read import file_ranges, line_ranges, read_listed

    lines = [json.dumps({"title": f"t{i}", "text": f"story {i} " + "word " * (i % 7)}) for i in range(50)]
    lines[17] = "{not json"
    data = ("\n".join(lines) + "\n").encode()
    path = tmp_path / "big.jsonl"
    path.write_bytes(data)
    ranges = line_ranges(data, range_bytes=300)
    assert len(ranges) > 3 and ranges[0][0] == 0 and ranges[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))          # contiguous, no overlap
    assert all(data[end - 1:end] == b"\n" for _, end, _ in ranges)          # cut after a newline

    def parsed(records):
        return [(r["input"].rsplit("/", 1)[-1], r.get("title"), r.get("error")) for raw in records
                for r in parse_raw(raw)]

    in_ranges = [raw for rng in file_ranges((str(path), "input"), range_bytes=300) for raw in read_listed(rng, NOW)]
    whole = list(read_listed((str(path), "input", 0, None, 0), NOW))
    assert len(in_ranges) == len(ranges) and len(whole) == 1
    assert parsed(in_ranges) == parsed(whole)
    assert parsed(whole)[17] == ("big.jsonl#17", None, "bad_json") and parsed(whole)[49][0] == "big.jsonl#49"


def test_other_files_are_read_whole(tmp_path):
    from transforms.read import file_ranges

    (tmp_path / "a.json").write_text("[]")
    (tmp_path / "b.jsonl").write_bytes(b"\x1f\x8b compressed")
    assert file_ranges((str(tmp_path / "a.json"), "input")) == [(str(tmp_path / "a.json"), "input", 0, None, 0)]
    assert file_ranges((str(tmp_path / "b.jsonl"), "input"))[0][3] is None
