"""`make bench-cluster`: `newsbeam run` with NLP on the Flink session cluster and on the
local runner, side by side over one corpus.

The corpus is N articles of the bench corpus generator (bench/corpus.py, 10% near
copies). The cluster is the project's (scripts/flink_cluster.sh: one JobManager, one
TaskManager with 2 slots), the job is submitted through the assembled job server with
the Python workers in the submitting process (LOOPBACK), as README's Flink recipe does;
the local run uses 2 worker processes. For each run it prints the seconds, articles/s
and the peak RSS of each process (sampled every 0.25 s): newsbeam with its SDK workers,
the job server JVM, the JobManager and the TaskManager, and their sum; then whether
the two runs' tables are equal.

    python bench/cluster_nlp.py --articles 2000
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import psutil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)
from corpus import generate, write_corpus  # noqa: E402
from scale import sampled_run  # noqa: E402
from snapshot import comparable_tables  # noqa: E402

LOCAL = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
CLUSTER_SCRIPT = os.path.join(ROOT, "scripts", "flink_cluster.sh")


def flink_args(master: str) -> list[str]:
    jar = subprocess.run(
        ["bash", os.path.join(ROOT, "scripts", "fetch_flink_jobserver.sh")],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.strip()
    return [
        "--runner=FlinkRunner",
        f"--flink_job_server_jar={jar}",
        f"--flink_master={master}",
        "--environment_type=LOOPBACK",
        "--job_server_jvm_properties=-Xmx768m",
    ]


def role_of(process: psutil.Process, root_pid: int, cluster_pids: dict) -> str:
    for role, pid in cluster_pids.items():
        if process.pid == pid:
            return role
    if process.pid == root_pid:
        return "newsbeam"
    name = process.name()
    if "java" in name:
        return "job server"
    return "python worker" if name.startswith("python") else f"other ({name})"


def sample_peaks(process: subprocess.Popen, cluster_pids: dict, peaks: dict, interval: float = 0.25) -> None:
    """Peak RSS per role (the largest process of a role) and of all processes together."""
    root = psutil.Process(process.pid)
    cluster = [psutil.Process(pid) for pid in cluster_pids.values()]
    while process.poll() is None:
        try:
            members = [root, *root.children(recursive=True), *cluster]
            rss = {p: p.memory_info().rss for p in members}
        except psutil.Error:
            continue
        peaks["all"] = max(peaks.get("all", 0), sum(rss.values()))
        for member, value in rss.items():
            role = role_of(member, root.pid, cluster_pids)
            peaks[role] = max(peaks.get(role, 0), value)
        time.sleep(interval)


def run(corpus: str, output: str, extra: list[str], cluster_pids: dict) -> dict:
    command = [sys.executable, "-m", "pipeline", "run", "--input", corpus, "--output", output, *extra]
    peaks: dict = {}
    seconds, out = sampled_run(command, sample_peaks, cluster_pids, peaks)
    return {"seconds": seconds, "peaks": peaks, "summary": out.strip().splitlines()[-1]}


def start_cluster(folder: str) -> tuple[str, dict, dict]:
    env = {**os.environ, "FLINK_CLUSTER_DIR": folder, "FLINK_CLUSTER_OWNER_PID": str(os.getpid())}
    address = subprocess.run(
        ["bash", CLUSTER_SCRIPT, "start"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    pids = {}
    for role, name in (("JobManager", "jobmanager"), ("TaskManager", "taskmanager")):
        with open(os.path.join(folder, f"{name}.pid")) as handle:
            pids[role] = int(handle.read().strip())
    return address, pids, env


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the corpus, outputs and cluster logs")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="newsbeam-cluster-nlp-")
    try:
        return measure(args, work)
    finally:
        if args.keep:
            print(f"kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def measure(args, work: str) -> int:
    corpus = os.path.join(work, "corpus")
    write_corpus(generate(args.articles), corpus, per_file=1000)
    results = {"articles": args.articles}
    address, cluster_pids, env = start_cluster(os.path.join(work, "flink"))
    try:
        results["cluster"] = run(corpus, os.path.join(work, "cluster"), flink_args(address), cluster_pids)
    finally:
        subprocess.run(["bash", CLUSTER_SCRIPT, "stop"], env=env, capture_output=True, text=True)
    results["local"] = run(corpus, os.path.join(work, "local"), LOCAL, {})
    results["tables_equal"] = comparable_tables(os.path.join(work, "cluster")) == comparable_tables(
        os.path.join(work, "local")
    )
    for name in ("cluster", "local"):
        figures = results[name]
        peaks = ", ".join(f"{role} {value / 2**30:.2f} GB" for role, value in sorted(figures["peaks"].items()))
        print(f"{name}: {figures['seconds']:.0f} s, {args.articles / figures['seconds']:.2f} articles/s; peak {peaks}")
        print(f"  {figures['summary']}")
    print(f"tables equal: {results['tables_equal']}")
    print(f"cluster / local throughput: {results['local']['seconds'] / results['cluster']['seconds']:.2f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)
    return 0 if results["tables_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
