"""A small run of `make bench`: it runs end to end and its numbers are sane (not a speed test)."""

import itertools
import json
import statistics
import subprocess
import sys

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import corpus  # noqa: E402
import run_bench  # noqa: E402
import scale  # noqa: E402

from transforms.dedup.near_duplicates import shingles  # noqa: E402


def test_corpus_is_deterministic_with_realistic_lengths():
    first, again = corpus.generate(60, seed=3), corpus.generate(60, seed=3)
    assert first == again and first != corpus.generate(60, seed=4)
    lengths = [len(a["text"].split()) for a in first]
    assert min(lengths) >= 300 and max(lengths) <= 1700
    assert any(a["title"].startswith("UPDATE:") for a in first)  # near-duplicate copies
    assert len({a["published"][:10] for a in first}) > 10  # dates over weeks


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b)


def test_distinct_stories_share_few_five_word_runs_like_real_news():
    # Unrelated real stories share almost no 5-word shingles (quotes-dev: mean 0.000);
    # a corpus whose stories overlap makes LSH candidates grow with N squared.
    stories = [shingles(a["text"]) for a in corpus.generate(40, seed=5, near_dup_share=0)]
    overlaps = [jaccard(a, b) for a, b in itertools.combinations(stories, 2)]
    assert statistics.mean(overlaps) < 0.02 and max(overlaps) < 0.08


def test_near_copies_stay_near_duplicates():
    articles = corpus.generate(80, seed=5)
    copies = [a for a in articles if a["title"].startswith("UPDATE:")]
    assert copies
    for copy in copies:
        original = next(a for a in articles if a["title"] == copy["title"][len("UPDATE: ") :])
        assert jaccard(shingles(copy["text"]), shingles(original["text"])) > 0.6


@pytest.mark.long
def test_bench_smoke_prints_sane_figures(tmp_path, capsys):
    out = tmp_path / "figures.json"
    assert (
        run_bench.main(
            ["--n", "12", "--repeats", "1", "--folder-articles", "6", "--folder-repeats", "2", "--json", str(out)]
        )
        == 0
    )
    figures = json.loads(out.read_text())
    assert figures["articles"] == 12
    for name in ("baseline_articles_per_s", "newsbeam_articles_per_s", "ratio_R", "no_nlp_articles_per_s"):
        assert 0 < figures[name] < 10_000, name
    assert 100 < figures["newsbeam_peak_rss_mb"] < 24_000
    assert not figures["output_files"]["articles"].startswith("0 files")
    assert 0 < figures["stage_seconds"]["spaCy in RunInference (summed over workers)"] < 1000
    assert "[inputs = articles + duplicates + rejects: ok]" in figures["summary"]
    folder = figures["folder"]  # the two-core ceiling on a folder of article files
    assert folder["article files (about 760 words)"] == 6
    assert 0 < folder["two plain nlp.pipe processes, articles/s"] < 10_000
    assert 0 < folder["ceiling ratio"] < 10 and folder["passes (medians below)"] == 2
    assert len(folder["ceiling ratio of each pass"].split()) == 2
    # newsbeam's own analysis (spaCy and the extractors) in two processes, the gap's split
    assert 0 < folder["two processes of newsbeam's own analysis, articles/s"] < 10_000
    assert 0 < folder["own analysis to the ceiling (extractors, batches)"] < 10
    # timed whole, the plain processes also pay their start and model load: a slower rate
    whole = folder["the same timed whole (start, model load)"]
    assert 0 < whole < folder["two plain nlp.pipe processes, articles/s"]
    assert folder["ratio to the ceiling timed whole"] > folder["ceiling ratio"]
    assert "ratio_R" in capsys.readouterr().out


def test_scale_bench_takes_each_chunks_peak_apart(tmp_path):
    # A process that holds 300 MB while its first "chunk" runs, commits it as the
    # pipeline does (`<run id>-part001.commit.json`), then holds little while the second runs.
    runs = tmp_path / "_runs"
    script = f"""
import os, time
held = bytearray(300 * 2**20)
for i in range(0, len(held), 4096):
    held[i] = 1
time.sleep(1.5)
os.makedirs({str(runs)!r}, exist_ok=True)
open(os.path.join({str(runs)!r}, "{scale.RUN_ID}-part001.commit.json"), "w").close()
del held
time.sleep(1.5)
"""
    process = subprocess.Popen([sys.executable, "-c", script])
    peaks = {"total": 0, "coordinator": 0, "worker": 0, "by_chunk": []}
    scale.sample_peaks(process, peaks, str(tmp_path), interval=0.1)
    assert process.wait() == 0
    first, second = peaks["by_chunk"]
    assert first > 300 * 2**20 > second
    assert peaks["total"] == first
