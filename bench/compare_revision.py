"""This checkout against an earlier revision, side by side in one run
(`python bench/compare_revision.py --rev 691bf43 --n 2000`).

Builds one bench corpus, then runs the plain `nlp.pipe` baseline, `newsbeam run` of
this checkout and of REV (a git worktree, same virtualenv) on 2 worker processes,
with NLP and with --no-nlp, and prints seconds, peak memory of all processes and R
for each. One run each: for a verdict on a few percent, repeat it or time the two
commands alternately (e.g. with /usr/bin/time -v).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import run_bench  # noqa: E402
from corpus import generate, write_corpus  # noqa: E402


def run_checkout(checkout: str, corpus: str, output: str, extra: list[str]) -> dict:
    """`newsbeam run` of the code in `checkout`: seconds, peak RSS of all processes, summary line."""
    command = [sys.executable, "-m", "pipeline", "run", "--input", corpus, "--output", output, *extra]
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=checkout,
        env={**os.environ, "PYTHONPATH": checkout},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak, sampler = run_bench.peak_rss_while(process)
    out, err = process.communicate()
    seconds = time.perf_counter() - start
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{checkout}: newsbeam run failed ({process.returncode}):\n{err[-3000:]}")
    return {"seconds": round(seconds, 1), "peak_mb": round(peak["bytes"] / 2**20), "line": out.strip().splitlines()[-1]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", required=True, help="git revision to compare with")
    parser.add_argument("--n", type=int, default=2000, help="articles in the corpus")
    args = parser.parse_args(argv)

    work = tempfile.mkdtemp(prefix="newsbeam-compare-")
    other = os.path.join(work, "other")
    subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", other, args.rev], check=True, capture_output=True)
    try:
        corpus = os.path.join(work, "corpus")
        write_corpus(generate(args.n), corpus)
        baseline = run_bench.run_baseline(corpus, 16)
        rate = baseline["articles"] / baseline["seconds"]
        figures = {"baseline_articles_per_s": round(rate, 2)}
        for flags, suffix in ((run_bench.MULTI_WORKERS, ""), (run_bench.MULTI_WORKERS + ["--no-nlp"], " --no-nlp")):
            for name, checkout in (("this checkout", REPO), (args.rev, other)):
                result = run_checkout(checkout, corpus, os.path.join(work, f"out-{len(figures)}"), flags)
                result["articles_per_s"] = round(args.n / result["seconds"], 2)
                if not suffix:
                    result["R"] = round(result["articles_per_s"] / rate, 3)
                figures[name + suffix] = result
        print(json.dumps(figures, indent=1))
    finally:
        subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", other], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
