"""`make bench-scale`: `newsbeam run --no-nlp` over 100k and 1M articles on 2 workers.

For each size and layout (one JSON-lines file, or many files of 10,000 lines) it prints
articles/s, the peak memory of all processes (sampled over the process tree: the
coordinator and each worker), the largest near-duplicate band bucket, and the
near-duplicate precision/recall on the syndication set (bench/syndication.py) mixed
into the corpus, against the same set run alone. Then the ratio of the peak at the
largest size to the peak at the smallest.

Corpora come from the bench corpus generator (bench/corpus.py, shorter articles by
default: --words) with its own 10% of near copies, and are kept under --cache so
a second run does not write gigabytes again.

    python bench/scale.py --sizes 100000 1000000 --layouts one-file many-files
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone

import duckdb
import psutil

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import syndication  # noqa: E402
from corpus import base_article, near_copy  # noqa: E402

SYNDICATION_ARTICLES = 2000
MARK = "syndication:"  # the title of a syndication article: its id in bench/syndication.py
LINES_PER_FILE = 10_000
WORKERS = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]


def syndication_lines() -> list[str]:
    """The syndication set as JSON lines, titled with their ids (their truth is by id)."""
    return [
        json.dumps(
            {
                "title": MARK + art["article_id"],
                "text": art["text"],
                "url": art["url"],
                "published": art["published_at"].isoformat(),
            }
        )
        for art in syndication.generate(SYNDICATION_ARTICLES)
    ]


def write_corpus(folder: str, n: int, layout: str, words: tuple[int, int], seed: int = 7) -> str:
    """n articles of the bench corpus (its own near copies included) with the syndication
    set spread evenly among them; returns the input path (a file or a folder)."""
    done = os.path.join(folder, ".complete")
    target = os.path.join(folder, "corpus.jsonl") if layout == "one-file" else folder
    if os.path.exists(done):
        return target
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    rng, start = random.Random(seed), datetime(2026, 1, 5, tzinfo=timezone.utc)
    marked = syndication_lines()
    every = max(1, n // len(marked)) if n else 1
    recent: list[dict] = []  # near copies are made of recent articles: memory stays flat
    handle, written = None, 0

    def write(line: str) -> None:
        nonlocal handle, written
        if handle is None or (layout == "many-files" and written % LINES_PER_FILE == 0):
            if handle:
                handle.close()
            name = "corpus.jsonl" if layout == "one-file" else f"corpus-{written // LINES_PER_FILE:05d}.jsonl"
            handle = open(os.path.join(folder, name), "w", encoding="utf-8")
        handle.write(line + "\n")
        written += 1

    for index in range(n):
        if marked and index % every == 0:
            write(marked.pop())
        if recent and rng.random() < 0.1:
            article = near_copy(rng, rng.choice(recent), index)
        else:
            article = base_article(rng, index, start, words)
        recent = (recent + [article])[-1000:] if len(recent) >= 1000 else recent + [article]
        write(json.dumps(article, ensure_ascii=False))
    for line in marked:
        write(line)
    handle.close()
    open(done, "w").close()
    return target


def sample_peaks(process: subprocess.Popen, peaks: dict, interval: float = 0.25) -> None:
    """Peak RSS of the process tree: in all, of the coordinator, of the largest worker."""
    root = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            rss = {p.pid: p.memory_info().rss for p in [root, *root.children(recursive=True)]}
        except psutil.Error:
            continue
        peaks["total"] = max(peaks["total"], sum(rss.values()))
        peaks["coordinator"] = max(peaks["coordinator"], rss.get(root.pid, 0))
        peaks["worker"] = max([peaks["worker"], *(v for pid, v in rss.items() if pid != root.pid)])
        time.sleep(interval)


def run_no_nlp(corpus: str, output: str) -> dict:
    command = [sys.executable, "-m", "pipeline", "run", "--input", corpus, "--output", output, "--no-nlp", *WORKERS]
    peaks = {"total": 0, "coordinator": 0, "worker": 0}
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=os.path.dirname(HERE)
    )
    sampler = threading.Thread(target=sample_peaks, args=(process, peaks), daemon=True)
    sampler.start()
    _, err = process.communicate()
    seconds = time.perf_counter() - start
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"newsbeam run failed ({process.returncode}):\n{err[-3000:]}")
    runs = os.path.join(output, "_runs")
    (name,) = [n for n in os.listdir(runs) if not n.endswith(".commit.json")]
    with open(os.path.join(runs, name)) as handle:
        summary = json.load(handle)
    return {"seconds": seconds, "peaks": peaks, "summary": summary}


def syndication_scores(output: str) -> tuple[float, float, int]:
    """Pairwise (precision, recall, articles scored) of the syndication set's clusters in the output:
    each article's cluster is the winner at the end of its duplicate_of chain."""
    glob = os.path.join(output, "articles", "**", "*.parquet")
    rows = duckdb.sql(
        f"SELECT title, article_id, duplicate_of FROM read_parquet('{glob}', hive_partitioning = true)"
    ).fetchall()
    points_to = {article_id: duplicate_of for _, article_id, duplicate_of in rows if duplicate_of}

    def winner(article_id: str) -> str:
        seen = set()
        while article_id in points_to and article_id not in seen:
            seen.add(article_id)
            article_id = points_to[article_id]
        return article_id

    predicted = {title[len(MARK) :]: winner(aid) for title, aid, _ in rows if title and title.startswith(MARK)}
    # Copies with the same URL and text as another are the same article (same id): the
    # run skips them (`same_article`), so they are scored as the rest of the set.
    truth = {art["article_id"]: art["story"] for art in syndication.generate(SYNDICATION_ARTICLES)}
    truth = {article_id: story for article_id, story in truth.items() if article_id in predicted}
    precision, recall, *_ = syndication.pairwise_pr(truth, predicted)
    return precision, recall, len(truth)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--layouts", nargs="+", choices=("one-file", "many-files"), default=["one-file", "many-files"])
    parser.add_argument("--words", default="150-450", help="words per generated article, as MIN-MAX")
    parser.add_argument("--cache", default=os.path.join(os.path.dirname(HERE), ".cache", "bench-scale"))
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    words = tuple(int(w) for w in args.words.split("-"))
    results = []
    with tempfile.TemporaryDirectory(prefix="newsbeam-scale-") as scratch:
        alone = os.path.join(scratch, "alone")
        os.makedirs(alone)
        with open(os.path.join(alone, "syndication.jsonl"), "w") as handle:
            handle.write("\n".join(syndication_lines()) + "\n")
        run_no_nlp(alone, os.path.join(scratch, "alone-out"))
        reference = syndication_scores(os.path.join(scratch, "alone-out"))
        print(
            f"syndication set alone ({reference[2]} of {SYNDICATION_ARTICLES} articles written): "
            f"precision {reference[0]:.4f} recall {reference[1]:.4f}"
        )
        for layout in args.layouts:
            for size in args.sizes:
                corpus = write_corpus(os.path.join(args.cache, f"{size}-{layout}-{args.words}"), size, layout, words)
                output = os.path.join(scratch, f"out-{size}-{layout}")
                run = run_no_nlp(corpus, output)
                precision, recall, scored = syndication_scores(output)
                summary = run["summary"]
                results.append(
                    {
                        "layout": layout,
                        "articles_in": summary["inputs"],
                        "seconds": round(run["seconds"], 1),
                        "articles_per_second": round(summary["inputs"] / run["seconds"], 1),
                        "peak_total_gb": round(run["peaks"]["total"] / 2**30, 2),
                        "peak_coordinator_gb": round(run["peaks"]["coordinator"] / 2**30, 2),
                        "peak_worker_gb": round(run["peaks"]["worker"] / 2**30, 2),
                        "largest_band_bucket": summary.get("largest_band_bucket"),
                        "candidate_pairs": summary.get("candidate_pairs"),
                        "duplicates": summary["duplicates"],
                        "balanced": summary["balanced"],
                        "syndication_precision": round(precision, 4),
                        "syndication_recall": round(recall, 4),
                        "syndication_scored": scored,
                    }
                )
                print(json.dumps(results[-1]), flush=True)
                shutil.rmtree(output, ignore_errors=True)
    print()
    header = (
        f"{'layout':<11}{'inputs':>10}{'art/s':>8}{'peak GB':>9}{'coord':>7}{'worker':>8}{'bucket':>8}{'P':>8}{'R':>8}"
    )
    print(header)
    for r in results:
        print(
            f"{r['layout']:<11}{r['articles_in']:>10}{r['articles_per_second']:>8}{r['peak_total_gb']:>9}"
            f"{r['peak_coordinator_gb']:>7}{r['peak_worker_gb']:>8}{r['largest_band_bucket'] or '-':>8}"
            f"{r['syndication_precision']:>8}{r['syndication_recall']:>8}"
        )
    for layout in args.layouts:
        rows = [r for r in results if r["layout"] == layout]
        if len(rows) > 1:
            small, large = rows[0], rows[-1]
            print(
                f"{layout}: peak at {large['articles_in']} / peak at {small['articles_in']} = "
                f"{large['peak_total_gb'] / small['peak_total_gb']:.2f}"
            )
    print(f"syndication alone: P {reference[0]:.4f} R {reference[1]:.4f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"reference": reference, "results": results}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
