import gzip
import os
from datetime import datetime, timezone

import pytest

from transforms.ingest.read import gunzip, list_files, read_file

NOW = datetime(2026, 11, 28, tzinfo=timezone.utc)


def test_directory_is_listed_recursively_without_hidden_files(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.txt").write_text("x")
    (tmp_path / "two.json").write_text("{}")
    (tmp_path / ".DS_Store").write_text("x")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("x")
    paths, rejects = list_files(str(tmp_path))
    assert [os.path.relpath(p, tmp_path) for p in paths] == ["two.json", "a/one.txt"] and rejects == []


def test_glob_is_expanded(tmp_path):
    for name in ("a.txt", "b.txt", "c.json"):
        (tmp_path / name).write_text("x")
    paths, rejects = list_files(str(tmp_path / "*.txt"))
    assert [os.path.basename(p) for p in paths] == ["a.txt", "b.txt"] and rejects == []


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

    from transforms.ingest.formats import ReadLimits
    from transforms.ingest.parse import parse_raw
    from transforms.ingest.read import file_ranges, line_ranges, read_listed

    lines = [json.dumps({"title": f"t{i}", "text": f"story {i} " + "word " * (i % 7)}) for i in range(50)]
    lines[17] = "{not json"
    data = ("\n".join(lines) + "\n").encode()
    path = tmp_path / "big.jsonl"
    path.write_bytes(data)
    ranges = line_ranges(data, range_bytes=300)
    assert len(ranges) > 3 and ranges[0][0] == 0 and ranges[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))  # contiguous, no overlap
    assert all(data[end - 1 : end] == b"\n" for _, end, _ in ranges)  # cut after a newline

    def parsed(records):
        return [
            (r["input"].rsplit("/", 1)[-1], r.get("title"), r.get("error")) for raw in records for r in parse_raw(raw)
        ]

    limits = ReadLimits(range_bytes=300)
    in_ranges = [raw for rng in file_ranges((str(path), "input"), limits) for raw in read_listed(rng, NOW, limits)]
    whole = list(read_listed((str(path), "input", 0, None, 0), NOW))
    assert len(in_ranges) == len(ranges) and len(whole) == 1
    assert parsed(in_ranges) == parsed(whole)
    assert parsed(whole)[17] == ("big.jsonl#17", None, "bad_json") and parsed(whole)[49][0] == "big.jsonl#49"


def test_other_files_are_read_whole(tmp_path):
    from transforms.ingest.read import file_ranges

    (tmp_path / "a.json").write_text("[]")
    (tmp_path / "b.jsonl").write_bytes(b"\x1f\x8b compressed")
    assert file_ranges((str(tmp_path / "a.json"), "input")) == [(str(tmp_path / "a.json"), "input", 0, None, 0)]
    assert file_ranges((str(tmp_path / "b.jsonl"), "input"))[0][3] is None


def test_glob_keeps_beams_semantics_and_works_from_the_current_folder(tmp_path, monkeypatch):
    """`*` stays in one folder, `**` crosses folders (FileSystem.translate_pattern); a
    relative glob with a wildcard in its first part matched nothing through Beam."""
    (tmp_path / "d1" / "sub").mkdir(parents=True)
    for name in ("top.txt", "d1/a.txt", "d1/sub/b.txt"):
        (tmp_path / name).write_text("x")

    def rel(pattern):
        return sorted(os.path.relpath(p, tmp_path) for p in list_files(str(tmp_path / pattern))[0])

    assert rel("*.txt") == ["top.txt"]
    assert rel("d*/*.txt") == ["d1/a.txt"]
    assert rel("**/*.txt") == ["d1/a.txt", "d1/sub/b.txt"]
    monkeypatch.chdir(tmp_path)
    assert list_files("d*/*.txt") == (["d1/a.txt"], [])


def deny_listing(monkeypatch, folder_name: str):
    """os.scandir raises PermissionError for folders named `folder_name`.

    Tests run as root, and root lists a folder whatever its permission bits, so a
    chmod 000 folder would still be listed: the error is injected instead."""
    real_scandir = os.scandir

    def scandir(path="."):
        if not isinstance(path, int) and os.path.basename(os.fsdecode(path)) == folder_name:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_unlistable_subfolder_is_a_read_reject_naming_it(tmp_path, monkeypatch):
    """Was: os.walk's errors were ignored, so the folder's files vanished silently.
    (Injected error, not chmod: root ignores permission bits; see deny_listing.)"""
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "inside.txt").write_text("x")
    (tmp_path / "ok.txt").write_text("x")
    deny_listing(monkeypatch, "locked")
    for spec in (str(tmp_path), str(tmp_path / "**.txt")):
        paths, rejects = list_files(spec)
        assert [os.path.basename(p) for p in paths] == ["ok.txt"], spec
        assert [(r["input"], r["stage"], r["error"]) for r in rejects] == [
            (str(tmp_path / "locked"), "read", "unreadable")
        ], spec
        assert "PermissionError" in rejects[0]["detail"]


def test_list_spec_yields_files_and_listing_rejects(tmp_path, monkeypatch):
    from transforms.ingest.read import list_spec

    (tmp_path / "locked").mkdir()
    (tmp_path / "ok.txt").write_text("x")
    deny_listing(monkeypatch, "locked")
    listed = list_spec((str(tmp_path), "input"))
    assert listed[0] == (str(tmp_path / "ok.txt"), "input")
    assert [(r["stage"], r["error"]) for r in listed[1:]] == [("read", "unreadable")]


def finishes_within(seconds: float, function, *args):
    """function(*args) run in a daemon thread: its result, or AssertionError when it
    is still running after `seconds` (a hang fails the test instead of the suite)."""
    import threading

    result = []
    thread = threading.Thread(target=lambda: result.append(function(*args)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    return result[0]


def symlink_loops(tmp_path):
    """tmp_path/a/x.txt, with a/up -> .. and a/self -> ../a: endless paths, one folder."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("x")
    os.symlink("..", tmp_path / "a" / "up")
    os.symlink("../a", tmp_path / "a" / "self")


def test_walks_and_globs_visit_each_folder_once_through_symlink_loops(tmp_path):
    symlink_loops(tmp_path)
    for spec in (
        str(tmp_path),
        str(tmp_path / "**"),
        str(tmp_path / "**" / "*.txt"),
        str(tmp_path / "a" / "up" / "**"),
    ):
        paths, rejects = finishes_within(20, list_files, spec)
        assert [os.path.basename(p) for p in paths] == ["x.txt"] and rejects == [], spec


def test_run_argument_check_finishes_on_a_symlink_loop_glob(tmp_path):
    """`newsbeam run --input 'DIR/**'` checks its inputs before the run: that check
    must not hang either. In a subprocess, killed after a generous 20 s."""
    import subprocess
    import sys

    symlink_loops(tmp_path)
    code = "import sys; from pipeline.cli import local_matches; print(len(local_matches(sys.argv[1])))"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "**" / "*.txt")],
            cwd=os.path.dirname(os.path.dirname(__file__)),
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("local_matches still running after 20 s")
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr


def non_utf8_file(tmp_path, name: bytes, data: bytes) -> bytes:
    path = os.path.join(os.fsencode(tmp_path), name)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def test_file_name_that_is_not_utf8_is_read_and_named_visibly(tmp_path):
    """Was: the name reached articles with a lone surrogate (os's surrogateescape)
    and killed the run when hashed or written."""
    from transforms.articles import finalize_article
    from transforms.ingest.parse import parse_raw, validate

    non_utf8_file(tmp_path, b"caf\xe9.txt", b"Headline\n\nBody of the story.")
    paths, rejects = list_files(str(tmp_path))
    assert len(paths) == 1 and rejects == []
    raw = list(read_file(paths[0], NOW))[0]
    assert raw["input"] == str(tmp_path) + "/caf\\xe9.txt" and raw["name"] == "caf\\xe9.txt"
    article = validate(parse_raw(raw)[0])
    assert article["text"] == "Body of the story." and article["input"].encode("utf-8")
    row = finalize_article(article, "run1", NOW)
    assert row["source"] == "caf\\xe9.txt"


def test_unreadable_non_utf8_file_is_a_reject_with_a_valid_name(tmp_path):
    reject = list(read_file(os.path.join(os.fsencode(tmp_path), b"gone\xff.txt"), NOW))[0]
    assert (reject["error"], reject["input"]) == ("unreadable", str(tmp_path) + "/gone\\xff.txt")


def test_fifo_is_rejected_not_waited_for(tmp_path):
    """Was: open() on a FIFO in an input folder blocked the run for ever."""
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    try:
        records = finishes_within(20, lambda: list(read_file(str(fifo), NOW)))
    finally:  # if a reader is blocked on it (before the fix), let it go
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
    assert [(r["stage"], r["error"]) for r in records] == [("read", "unreadable")]


def test_empty_jsonl_file_is_read_and_rejected_not_lost(tmp_path):
    """Was: an empty .jsonl file had no line ranges, so it was never read or counted."""
    from transforms.ingest.parse import parse_raw
    from transforms.ingest.read import file_ranges, read_listed

    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    ranges = file_ranges((str(path), "input"))
    assert ranges == [(str(path), "input", 0, None, 0)]
    out = [r for rng in ranges for raw in read_listed(rng, NOW) for r in parse_raw(raw)]
    assert [(r["stage"], r["error"]) for r in out] == [("parse", "empty_text")]


def test_read_inputs_routes_listing_rejects_and_non_utf8_names(tmp_path, monkeypatch):
    """The Beam transform: a non-UTF-8 name crosses its shuffles (bytes, not str) and a
    folder it cannot list is a read reject. (Listing error injected: tests run as root.)"""
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to
    from conftest import beam_pipeline

    from transforms.ingest.read import ReadInputs

    non_utf8_file(tmp_path, b"caf\xe9.txt", b"Headline\n\nBody.")
    (tmp_path / "locked").mkdir()
    deny_listing(monkeypatch, "locked")
    with beam_pipeline() as p:
        raw, rejects = p | ReadInputs([str(tmp_path)], [], NOW)
        assert_that(raw | beam.Map(lambda r: r["input"].rsplit("/", 1)[-1]), equal_to(["caf\\xe9.txt"]), label="raw")
        assert_that(
            rejects | beam.Map(lambda r: (r["input"].rsplit("/", 1)[-1], r["stage"], r["error"])),
            equal_to([("locked", "read", "unreadable")]),
            label="rejects",
        )


def test_gunzip_reads_every_member_and_refuses_a_truncated_one():
    two_members = gzip.compress(b"first member\n") + gzip.compress(b"second member\n")
    assert gunzip(two_members, 1000) == b"first member\nsecond member\n"
    assert gunzip(two_members + b"\0" * 8, 1000) == b"first member\nsecond member\n"  # zero padding
    with pytest.raises(EOFError):
        gunzip(two_members[:-6], 1000)
    with pytest.raises(gzip.BadGzipFile):
        gunzip(two_members + b"trailing junk", 1000)
    with pytest.raises(ValueError):  # the cap counts all members together
        gunzip(gzip.compress(b"x" * 600) + gzip.compress(b"y" * 600), 1000)


def test_a_truncated_gz_file_is_a_reject_not_its_first_part(tmp_path):
    path = tmp_path / "story.txt.gz"
    path.write_bytes(gzip.compress(b"Headline\n\n" + b"Body sentence. " * 200)[:-20])
    (reject,) = list(read_file(str(path), NOW))
    assert reject["stage"] == "read" and reject["error"] == "bad_gzip" and "truncated" in reject["detail"]


def test_file_gone_before_its_ranges_are_planned_is_counted_and_a_read_reject(tmp_path):
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to
    from conftest import beam_pipeline

    from transforms.ingest.read import file_ranges, read_listed
    from transforms.metrics import counter_totals

    gone = str(tmp_path / "gone.jsonl")  # listed, then deleted before it is read
    pipeline = beam_pipeline()
    rejects = (
        pipeline
        | beam.Create([(gone, "input")])
        | beam.FlatMap(file_ranges)
        | beam.FlatMap(read_listed, NOW)
        | beam.Map(lambda reject: (reject["input"], reject["stage"], reject["error"]))
    )
    assert_that(rejects, equal_to([(gone, "read", "unreadable")]))
    result = pipeline.run()
    result.wait_until_finish()
    assert counter_totals(result).get("range_plan_errors") == 1
