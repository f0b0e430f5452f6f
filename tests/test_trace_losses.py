"""bench/trace_losses.py, the tracer of band blocks lost between packing and pairing:
its analysis without Beam, then real traced runs (two workers, a real store), one of
them made to lose the stored articles' blocks through the hooks' own switch."""

import json
import subprocess
import sys

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import corpus  # noqa: E402
import trace_losses  # noqa: E402


def test_parse_log_reads_each_kind_of_event():
    events = trace_losses.parse_log(
        [
            "10.000 pack True finish 3 2083 4040897131\n",
            "11.000 pair 3 2083 4040897131\n",
            "12.500 send bundle_33 Deduplicate/AllBandBlocks/Write/1 600192 False\n",
            "12.600 recv bundle_33 Deduplicate/AllBandBlocks/Write/1 0 True\n",
        ]
    )
    assert [event["kind"] for event in events] == ["pack", "pair", "send", "recv"]
    assert events[0] == dict(time=10.0, kind="pack", stored=True, where="finish", shard=3, entries=2083, crc=4040897131)
    assert events[2]["bytes"] == 600192 and not events[2]["is_last"] and events[3]["is_last"]


def pack(time, crc, stored=True):
    return dict(time=time, kind="pack", stored=stored, where="finish", shard=0, entries=10, crc=crc)


def data(kind, time, instruction, size, transform="Deduplicate/AllBandBlocks/Write/1", is_last=False):
    return dict(time=time, kind=kind, instruction=instruction, transform=transform, bytes=size, is_last=is_last)


def test_lost_blocks_says_how_far_each_got():
    logs = {
        1: [pack(1.0, 111), pack(1.0, 222), data("send", 1.5, "bundle_1", 500)],  # 111 paired, 222 lost after sending
        2: [pack(2.0, 333), data("send", 2.5, "bundle_2", 700), data("send", 2.6, "bundle_2", 0, is_last=True)],
        3: [dict(time=3.0, kind="pair", shard=0, entries=10, crc=111), data("recv", 1.6, "bundle_1", 500)],
        4: [pack(4.0, 444, stored=False)],  # never sent
    }
    lost = {block["crc"]: block for block in trace_losses.lost_blocks(logs)}
    assert sorted(lost) == [222, 333, 444]
    assert lost[222]["sent"]["instruction"] == "bundle_1" and lost[222]["received"]
    assert lost[333]["sent"]["bytes"] == 700 and not lost[333]["received"]  # sent, never received
    assert lost[444]["sent"] is None and not lost[444]["received"]
    lines = trace_losses.describe(list(lost.values()))
    assert any(
        "worker 2: 1 blocks (10 entries) of stored articles" in line and "not received" in line for line in lines
    )
    assert any("worker 4" in line and "of new articles" in line and "never sent" in line for line in lines)


def write_lines(path, articles):
    path.write_text("".join(json.dumps(article) + "\n" for article in articles))
    return str(path)


def store_and_new(tmp_path):
    """An output folder of 300 stored articles, and 120 new ones of which 40 are near
    copies of stored ones (so stored band entries reach pairing)."""
    articles = corpus.generate(420, seed=11, near_dup_share=0)
    stored, new = articles[:300], articles[300:]
    for index, original in enumerate(stored[:40]):
        copy = dict(original, url=original["url"] + f"-copy{index}", title="Copy: " + original["title"])
        new.append(dict(copy, text=original["text"] + " An editor's note was added."))
    store = tmp_path / "store"
    run = [sys.executable, "-m", "pipeline", "run", "--input", write_lines(tmp_path / "stored.jsonl", stored)]
    run += ["--output", str(store), "--no-nlp", *trace_losses.WORKERS]
    subprocess.run(run, cwd=REPO, check=True, capture_output=True)
    return str(store), write_lines(tmp_path / "new.jsonl", new)


def test_traced_runs_find_no_loss_in_a_clean_run_and_name_a_dropped_one(tmp_path, capsys, monkeypatch):
    store, new = store_and_new(tmp_path)
    # A clean run: the hooks are loaded (the tool fails when pack, pair, send or recv
    # events are missing) and every packed block is paired.
    assert (
        trace_losses.main(["--corpus", new, "--store", store, "--attempts", "1", "--logs", str(tmp_path / "clean")])
        == 0
    )
    out = capsys.readouterr().out
    assert "attempt 1: exit 0, 0 band blocks lost" in out and "no loss in 1 attempts" in out

    # The stored articles' blocks dropped in the workers: the run's own guard stops it
    # (its retry is not run), and the tool names the blocks and how far they got.
    monkeypatch.setenv("NEWSBEAM_TRACE_DROP_STORED", "1")
    logs = tmp_path / "dropped"
    assert trace_losses.main(["--corpus", new, "--store", store, "--attempts", "3", "--logs", str(logs)]) == 0
    out = capsys.readouterr().out
    assert "attempt 1: exit -9," in out and "attempt 2" not in out
    assert "of stored articles packed at finish, never sent, not received by any process" in out
    assert "of new articles" not in out
    assert f"logs kept in {logs / 'attempt1'}" in out
