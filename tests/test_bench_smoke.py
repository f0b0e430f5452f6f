"""A small run of `make bench`: it runs end to end and its numbers are sane (not a speed test)."""
import json
import sys

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import corpus  # noqa: E402
import run_bench  # noqa: E402


def test_corpus_is_deterministic_with_realistic_lengths():
    first, again = corpus.generate(60, seed=3), corpus.generate(60, seed=3)
    assert first == again and first != corpus.generate(60, seed=4)
    lengths = [len(a["text"].split()) for a in first]
    assert min(lengths) >= 300 and max(lengths) <= 1700
    assert any(a["title"].startswith("UPDATE:") for a in first)  # near-duplicate copies
    assert len({a["published"][:10] for a in first}) > 10        # dates over weeks


def test_bench_smoke_prints_sane_figures(tmp_path, capsys):
    out = tmp_path / "figures.json"
    assert run_bench.main(["--n", "12", "--repeats", "1", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["articles"] == 12
    for name in ("baseline_articles_per_s", "newsbeam_articles_per_s", "ratio_R", "no_nlp_articles_per_s"):
        assert 0 < figures[name] < 10_000, name
    assert 100 < figures["newsbeam_peak_rss_mb"] < 24_000
    assert not figures["output_files"]["articles"].startswith("0 files")
    assert 0 < figures["stage_seconds"]["spaCy in RunInference (summed over workers)"] < 1000
    assert "[inputs = articles + duplicates + rejects: ok]" in figures["summary"]
    assert "ratio_R" in capsys.readouterr().out
