"""Trace where band entries go missing in a local two-worker run: the loss that
pipeline/integrity.py catches (band entries packed but never paired) and retries.

Each attempt runs `newsbeam run --no-nlp` on 2 workers over CORPUS, on a fresh copy of
STORE (the output folder of earlier runs, so the graph reads stored signatures) or, in
chunks, on an empty output (the later chunks then run over the earlier), with
the hooks of bench/trace_hooks/ loaded in every process. It stops at the first attempt
whose band blocks were not all paired, keeps that attempt's logs, and prints each lost
block with where it was last seen: packed by which worker and stage, sent by that
worker (the Data element that followed it), and received by the coordinator or not.

    python bench/trace_losses.py --corpus CORPUS --store STORE --attempts 20 --logs DIR
    python bench/trace_losses.py --corpus CORPUS --chunk-mb 256 --attempts 3 --logs DIR

The logs of attempts without a loss are deleted. Not part of `make bench`: the loss it
was written for was rare (1 of 36 traced attempts at a 113k-article chunk over a 113k-
to 450k-article store), and its cause, Beam's runner-side timed flush, is now turned
off (pipeline.runners.send_worker_inputs_without_timed_flush).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORKERS = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]


def parse_log(lines) -> list[dict]:
    """The events of one process's trace log (bench/trace_hooks/sitecustomize.py)."""
    events = []
    for line in lines:
        time, kind, *fields = line.split()
        if kind == "pack":
            stored, where, shard, entries, crc = fields
            events.append(
                dict(
                    time=float(time),
                    kind=kind,
                    stored=stored == "True",
                    where=where,
                    shard=int(shard),
                    entries=int(entries),
                    crc=int(crc),
                )
            )
        elif kind == "pair":
            shard, entries, crc = fields
            events.append(dict(time=float(time), kind=kind, shard=int(shard), entries=int(entries), crc=int(crc)))
        elif kind in ("send", "recv"):
            instruction, transform, size, is_last = fields
            events.append(
                dict(
                    time=float(time),
                    kind=kind,
                    instruction=instruction,
                    transform=transform,
                    bytes=int(size),
                    is_last=is_last == "True",
                )
            )
    return events


def read_logs(folder: str) -> dict[int, list[dict]]:
    """{pid: events} of every process's log in folder."""
    logs = {}
    for path in glob.glob(os.path.join(folder, "*.log")):
        with open(path) as lines:
            logs[int(os.path.basename(path)[: -len(".log")])] = parse_log(lines)
    return logs


def lost_blocks(logs: dict[int, list[dict]]) -> list[dict]:
    """The packed blocks no pairing got, each with its pid and where it was last seen:
    `sent` the worker's first Data element of band blocks after packing it (None when
    it sent none), `received` whether any process logged receiving that element."""
    paired = {event["crc"] for events in logs.values() for event in events if event["kind"] == "pair"}
    received = {
        (event["instruction"], event["transform"], event["bytes"])
        for events in logs.values()
        for event in events
        if event["kind"] == "recv" and not event["is_last"]
    }
    lost = []
    for pid, events in sorted(logs.items()):
        for event in events:
            if event["kind"] != "pack" or event["crc"] in paired:
                continue
            sent = next(
                (
                    later
                    for later in events
                    if later["kind"] == "send"
                    and not later["is_last"]
                    and "AllBandBlocks" in later["transform"]
                    and later["time"] >= event["time"]
                ),
                None,
            )
            seen = sent is not None and (sent["instruction"], sent["transform"], sent["bytes"]) in received
            lost.append(dict(event, pid=pid, sent=sent, received=seen))
    return lost


def describe(lost: list[dict]) -> list[str]:
    """One line per (pid, stage, flush) of lost blocks."""
    groups: dict = {}
    for block in lost:
        sent = block["sent"]
        key = (
            block["pid"],
            block["stored"],
            block["where"],
            sent and sent["instruction"],
            sent and sent["transform"],
            sent and sent["bytes"],
            block["received"],
        )
        groups.setdefault(key, []).append(block)
    lines = []
    for (pid, stored, where, instruction, transform, size, received), blocks in groups.items():
        stage = "stored" if stored else "new"
        entries = sum(block["entries"] for block in blocks)
        sent = f"sent as {instruction} {transform} ({size} bytes)" if instruction else "never sent"
        got = "received by another process" if received else "not received by any process"
        what = f"{len(blocks)} blocks ({entries} entries) of {stage} articles packed at {where}"
        lines.append(f"worker {pid}: {what}, {sent}, {got}")
    return lines


def attempt(corpus: str, store: str | None, logs: str, run_id: str, chunk_mb: float) -> tuple[int, str]:
    """(exit status, stderr's end) of one traced run. A run whose counts disagree is
    stopped before its retry, which would pair the same blocks again in these logs."""
    with tempfile.TemporaryDirectory(prefix="newsbeam-trace-") as scratch:
        output = os.path.join(scratch, "out")
        if store:
            shutil.copytree(store, output)
        env = dict(os.environ, NEWSBEAM_TRACE_DIR=logs)
        paths = [os.path.join(HERE, "trace_hooks"), REPO, env.get("PYTHONPATH")]
        env["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
        command = [sys.executable, "-m", "pipeline", "run", "--input", corpus, "--output", output, "--no-nlp", *WORKERS]
        command += ["--run-id", run_id, "--chunk-mb", str(chunk_mb)]
        run = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        tail: list[str] = []
        try:
            for line in run.stderr:
                tail = (tail + [line])[-40:]
                if "running it again" in line:
                    os.killpg(run.pid, signal.SIGKILL)
            return run.wait(), "".join(tail)
        finally:  # the tool itself stopped: its run goes too, and the store's copy is removed
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", required=True, help="JSON lines of new articles")
    parser.add_argument("--store", help="an output folder of earlier runs, copied for each attempt (default: none)")
    parser.add_argument(
        "--chunk-mb",
        type=float,
        default=100_000,
        help="run's --chunk-mb (default: one chunk); with several chunks, the later ones run over the earlier",
    )
    parser.add_argument("--attempts", type=int, default=20)
    parser.add_argument("--logs", required=True, help="where the logs of the attempt with a loss are kept")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds, so `attempt` cleans up
    for number in range(1, args.attempts + 1):
        logs = os.path.join(args.logs, f"attempt{number}")
        os.makedirs(logs, exist_ok=True)
        status, stderr = attempt(args.corpus, args.store, logs, f"trace{number}", args.chunk_mb)
        traced = read_logs(logs)
        kinds = {event["kind"] for events in traced.values() for event in events}
        if not {"pack", "pair", "send", "recv"} <= kinds:
            print(f"attempt {number}: the hooks logged only {sorted(kinds)}; is bench/trace_hooks on PYTHONPATH?")
            return 1
        lost = lost_blocks(traced)
        print(f"attempt {number}: exit {status}, {len(lost)} band blocks lost", flush=True)
        if lost:
            for line in describe(lost):
                print("  " + line)
            print(f"  logs kept in {logs}")
            return 0
        if status != 0:
            print(stderr)
            return 1
        shutil.rmtree(logs)
    print(f"no loss in {args.attempts} attempts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
