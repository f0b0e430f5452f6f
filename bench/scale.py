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
import statistics
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

from transforms.sinks.commit import COMMIT_SUFFIX, RUNS  # noqa: E402

SYNDICATION_ARTICLES = 2000
MARK = "syndication:"  # the title of a syndication article: its id in bench/syndication.py
LINES_PER_FILE = 10_000
COPIES = ".copies.tsv"  # the corpus's own near copies: copy file, line, original file, line
RUN_ID = "scale"
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


def copies_path(folder: str) -> str:
    """Where the generator's truth of a corpus folder is: beside it, not in it (a
    folder is the input of the many-files layout)."""
    return folder.rstrip("/") + COPIES


def write_corpus(folder: str, n: int, layout: str, words: tuple[int, int], seed: int = 7) -> str:
    """n articles of the bench corpus (its own near copies included) with the syndication
    set spread evenly among them; returns the input path (a file or a folder)."""
    done = os.path.join(folder, ".complete-with-copies")  # corpora written before copies.tsv are written again
    target = os.path.join(folder, "corpus.jsonl") if layout == "one-file" else folder
    if os.path.exists(done) and os.path.exists(copies_path(folder)):
        return target
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    rng, start = random.Random(seed), datetime(2026, 1, 5, tzinfo=timezone.utc)
    marked = syndication_lines()
    every = max(1, n // len(marked)) if n else 1
    recent: list[tuple] = []  # (article, where): near copies are made of recent articles, memory stays flat
    handle, written = None, 0
    copies = open(copies_path(folder), "w", encoding="utf-8")  # the generator's truth

    def write(line: str) -> tuple[str, int]:
        """Write a line; return (file name, line number) as the run names its input."""
        nonlocal handle, written
        if handle is None or (layout == "many-files" and written % LINES_PER_FILE == 0):
            if handle:
                handle.close()
            name = "corpus.jsonl" if layout == "one-file" else f"corpus-{written // LINES_PER_FILE:05d}.jsonl"
            handle = open(os.path.join(folder, name), "w", encoding="utf-8")
        handle.write(line + "\n")
        written += 1
        line_number = written - 1 if layout == "one-file" else (written - 1) % LINES_PER_FILE
        return os.path.basename(handle.name), line_number

    for index in range(n):
        if marked and index % every == 0:
            write(marked.pop())
        if recent and rng.random() < 0.1:
            original, original_at = rng.choice(recent)
            article = near_copy(rng, original, index)
        else:
            article, original_at = base_article(rng, index, start, words), None
        at = write(json.dumps(article, ensure_ascii=False))
        if original_at is not None:
            copies.write("\t".join(map(str, (*at, *original_at))) + "\n")
        recent = (recent + [(article, at)])[-1000:]
    for line in marked:
        write(line)
    handle.close()
    copies.close()
    open(done, "w").close()
    return target


def committed_chunks(output: str, run_id: str = RUN_ID) -> int:
    """How many chunks of run_id have committed (each writes `<run id>-partNNN.commit.json`)."""
    try:
        names = os.listdir(os.path.join(output, RUNS))
    except FileNotFoundError:
        return 0
    return sum(1 for name in names if name.startswith(f"{run_id}-part") and name.endswith(COMMIT_SUFFIX))


def sample_peaks(process: subprocess.Popen, peaks: dict, output: str, interval: float = 0.25) -> None:
    """Peak RSS of the process tree writing to `output`: in all, of the coordinator, of the
    largest worker, and in all for each chunk (`by_chunk`, in the order they ran): a run's
    peak is the highest of its chunks', so a run of 9 chunks shows the highest of 9 draws
    where a run of one shows one."""
    root = psutil.Process(process.pid)
    by_chunk = peaks["by_chunk"]
    while process.poll() is None:
        try:
            rss = {p.pid: p.memory_info().rss for p in [root, *root.children(recursive=True)]}
        except psutil.Error:
            continue
        total = sum(rss.values())
        peaks["total"] = max(peaks["total"], total)
        peaks["coordinator"] = max(peaks["coordinator"], rss.get(root.pid, 0))
        peaks["worker"] = max([peaks["worker"], *(v for pid, v in rss.items() if pid != root.pid)])
        chunk = committed_chunks(output)  # the chunk running: those before it have committed
        by_chunk.extend([0] * (chunk + 1 - len(by_chunk)))
        by_chunk[chunk] = max(by_chunk[chunk], total)
        time.sleep(interval)


def sampled_run(command: list, sampler, *sampler_args) -> tuple[float, str]:
    """Run `command` from the repository while a thread runs sampler(process,
    *sampler_args); (seconds, stdout). A failed run ends the benchmark."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=os.path.dirname(HERE)
    )
    thread = threading.Thread(target=sampler, args=(process, *sampler_args), daemon=True)
    thread.start()
    out, err = process.communicate()
    seconds = time.perf_counter() - start
    thread.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[1:4])} failed ({process.returncode}):\n{err[-3000:]}")
    return seconds, out


def run_no_nlp(corpus: str, output: str) -> dict:
    command = [sys.executable, "-m", "pipeline", "run", "--input", corpus, "--output", output, "--no-nlp", *WORKERS]
    command += ["--run-id", RUN_ID]
    peaks = {"total": 0, "coordinator": 0, "worker": 0, "by_chunk": []}
    seconds, _ = sampled_run(command, sample_peaks, peaks, output)
    with open(os.path.join(output, "_runs", f"{RUN_ID}.json")) as handle:  # a chunked run's: of all its chunks
        summary = json.load(handle)
    # samples after the last chunk committed are the run's end (its summary), not a chunk
    del peaks["by_chunk"][len(summary.get("chunks") or []) or 1 :]
    return {"seconds": seconds, "peaks": peaks, "summary": summary}


def written_clusters(output: str) -> list[tuple]:
    """(input, title, cluster) of every written article: its cluster is the winner at
    the end of its duplicate_of chain."""
    glob = os.path.join(output, "articles", "**", "*.parquet")
    rows = duckdb.sql(
        f"SELECT input, title, article_id, duplicate_of FROM read_parquet('{glob}', hive_partitioning = true)"
    ).fetchall()
    points_to = {article_id: duplicate_of for _, _, article_id, duplicate_of in rows if duplicate_of}

    def winner(article_id: str) -> str:
        seen = set()
        while article_id in points_to and article_id not in seen:
            seen.add(article_id)
            article_id = points_to[article_id]
        return article_id

    return [(input_name, title, winner(article_id)) for input_name, title, article_id, _ in rows]


def corpus_copy_scores(output: str, corpus: str) -> tuple[float, float]:
    """Pairwise (precision, recall) of the generator's own near copies (copies.tsv):
    each copy's story is its first original's, each article's cluster the winner at
    the end of its duplicate_of chain. Articles the generator did not copy are
    stories of their own, so a chance match of two of them lowers the precision."""
    folder = corpus if os.path.isdir(corpus) else os.path.dirname(corpus)
    story: dict = {}
    with open(copies_path(folder), encoding="utf-8") as handle:
        for line in handle:
            copy_file, copy_line, original_file, original_line = line.rstrip("\n").split("\t")
            original = (original_file, int(original_line))
            story[(copy_file, int(copy_line))] = story.get(original, original)
    truth, predicted = {}, {}
    for input_name, title, cluster in written_clusters(output):
        if title and title.startswith(MARK):  # the syndication set is scored on its own truth
            continue
        path, _, line = input_name.rpartition("#")
        where = (os.path.basename(path), int(line))
        truth[where], predicted[where] = story.get(where, where), cluster
    precision, recall, *_ = syndication.pairwise_pr(truth, predicted)
    return precision, recall


def syndication_scores(output: str) -> tuple[float, float, int]:
    """Pairwise (precision, recall, articles scored) of the syndication set's clusters in the output:
    each article's cluster is the winner at the end of its duplicate_of chain."""
    clusters = written_clusters(output)
    predicted = {title[len(MARK) :]: cluster for _, title, cluster in clusters if title and title.startswith(MARK)}
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
                copy_precision, copy_recall = corpus_copy_scores(output, corpus)
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
                        "chunk_peaks_gb": [round(p / 2**30, 2) for p in run["peaks"]["by_chunk"]],
                        "largest_band_bucket": summary.get("largest_band_bucket"),
                        "candidate_pairs": summary.get("candidate_pairs"),
                        "duplicates": summary["duplicates"],
                        "balanced": summary["balanced"],
                        "syndication_precision": round(precision, 4),
                        "syndication_recall": round(recall, 4),
                        "syndication_scored": scored,
                        "copies_precision": round(copy_precision, 4),
                        "copies_recall": round(copy_recall, 4),
                        "chunks": len(summary.get("chunks") or []) or 1,
                        # attempts whose counts disagreed and were run again (pipeline/integrity.py)
                        "attempts_run_again": summary["attempts_run_again"],
                    }
                )
                print(json.dumps(results[-1]), flush=True)
                shutil.rmtree(output, ignore_errors=True)
    print()
    header = (
        f"{'layout':<11}{'inputs':>10}{'chunks':>7}{'art/s':>8}{'peak GB':>9}{'coord':>7}{'worker':>8}{'bucket':>8}"
        f"{'P':>8}{'R':>8}{'copy P':>8}{'copy R':>8}{'rerun':>7}"
    )
    print(header)
    for r in results:
        print(
            f"{r['layout']:<11}{r['articles_in']:>10}{r['chunks']:>7}{r['articles_per_second']:>8}"
            f"{r['peak_total_gb']:>9}{r['peak_coordinator_gb']:>7}{r['peak_worker_gb']:>8}"
            f"{r['largest_band_bucket'] or '-':>8}{r['syndication_precision']:>8}{r['syndication_recall']:>8}"
            f"{r['copies_precision']:>8}{r['copies_recall']:>8}{r['attempts_run_again']:>7}"
        )
    for layout in args.layouts:
        rows = [r for r in results if r["layout"] == layout]
        if len(rows) > 1:
            small, large = rows[0], rows[-1]
            print(
                f"{layout}: peak at {large['articles_in']} / peak at {small['articles_in']} = "
                f"{large['peak_total_gb'] / small['peak_total_gb']:.2f}"
            )
            chunk_peaks = large["chunk_peaks_gb"]
            middle = statistics.median(chunk_peaks)
            print(
                f"{layout}: peaks of the {len(chunk_peaks)} chunks at {large['articles_in']}: "
                f"{' '.join(map(str, chunk_peaks))} GB (median {middle:.2f}; "
                f"median / peak at {small['articles_in']} = {middle / small['peak_total_gb']:.2f})"
            )
    print(f"syndication alone: P {reference[0]:.4f} R {reference[1]:.4f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"reference": reference, "results": results}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
