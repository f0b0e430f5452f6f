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
