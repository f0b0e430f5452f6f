"""No article can take a run down in NLP: texts longer than a batch or than spaCy's
max_length are analysed in pieces, and a failure stays with its article (real spaCy model)."""

import json

import apache_beam as beam
import pytest
from apache_beam.testing.util import BeamAssertException, assert_that, equal_to
from conftest import SEED_ARTICLE, beam_pipeline

import transforms.nlp.inference as nlp_module
from pipeline.cli import main
from pipeline.extract import extract_files
from schemas.duckdb_views import open_output
from transforms.nlp.inference import (
    MAX_BATCH_CHARS,
    ExtractEntitiesAndQuotes,
    SpacyModelHandler,
    analyze,
    analyze_texts,
    piece_bounds,
)

SEED_BODY = SEED_ARTICLE.read_text(encoding="utf-8").split("\n", 1)[1]


def long_text(chars: int) -> str:
    """The seed's paragraphs repeated as blank-line separated paragraphs, cut to `chars`."""
    paragraphs = [p for p in SEED_BODY.split("\n") if p.strip()]
    out, size, i = [], 0, 0
    while size < chars:
        out.append(paragraphs[i % len(paragraphs)])
        size += len(out[-1]) + 2
        i += 1
    return "\n\n".join(out)[:chars]


def assert_offsets_point_into(text: str, analysis: dict):
    for e in analysis["entities"]:
        assert text[e["start"] : e["end"]] == e["text"], e
    for q in analysis["quotes"]:
        assert text[q["start"] : q["end"]] == q["text"], q
        if q["speaker_start"] is not None:
            assert text[q["speaker_start"] : q["speaker_end"]] == q["speaker_mention"], q


# ---------------------------------------------------------------- cutting texts


def test_text_that_fits_is_one_piece():
    assert piece_bounds("abc", 3) == [(0, 3)]
    assert piece_bounds("", 3) == [(0, 0)]


def test_pieces_cover_the_text_within_the_limit_and_prefer_paragraphs():
    text = long_text(20_000)
    bounds = piece_bounds(text, 4000)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(text)
    assert all(a < b <= a + 4000 for a, b in bounds)
    assert all(prev[1] == nxt[0] for prev, nxt in zip(bounds, bounds[1:]))
    assert all(text[b - 2 : b] == "\n\n" for _, b in bounds[:-1])  # cut after a blank line


def test_cuts_fall_back_to_lines_sentences_words_then_hard():
    lines = "\n".join(["One line here."] * 10)  # no blank line
    assert all(lines[b - 1] == "\n" for _, b in piece_bounds(lines, 40)[:-1])
    sentences = " ".join(["A sentence ends."] * 10)  # one paragraph
    assert all(sentences[b - 2 : b] == ". " for _, b in piece_bounds(sentences, 40)[:-1])
    words = " ".join(["word"] * 30)
    assert all(words[b - 1] == " " for _, b in piece_bounds(words, 12)[:-1])
    assert piece_bounds("x" * 25, 10) == [(0, 10), (10, 20), (20, 25)]


# ---------------------------------------------------------------- analyze_texts


def test_text_under_the_piece_size_gives_what_one_doc_gives(nlp):
    """Byte-identical to the analysis before pieces existed (nlp.pipe, then analyze)."""
    before = [analyze(doc) for doc in nlp.pipe([SEED_BODY], batch_size=16)]
    after = analyze_texts(nlp, [SEED_BODY])
    assert json.dumps(after) == json.dumps(before)
    assert any(e["canonical"] == "Dmitry Peskov" for e in after[0]["entities"]) and after[0]["quotes"]


def test_long_text_is_analysed_in_pieces_with_offsets_into_the_whole(nlp):
    text = long_text(12_000)
    bounds = piece_bounds(text, 4000)
    (whole,) = analyze_texts(nlp, [text], max_chars=4000)
    assert "error" not in whole and len(bounds) >= 3
    assert_offsets_point_into(text, whole)
    last_start = bounds[-1][0]
    in_last = [e for e in whole["entities"] if e["start"] >= last_start]
    assert in_last and [q for q in whole["quotes"] if q["start"] >= last_start]
    # the last piece's entities are what the piece alone gives, moved by its start
    (alone,) = analyze_texts(nlp, [text[last_start:]], max_chars=4000)
    assert [(e["start"] + last_start, e["end"] + last_start, e["canonical"]) for e in alone["entities"]] == [
        (e["start"], e["end"], e["canonical"]) for e in in_last
    ]


def test_text_over_spacy_max_length_is_cut_to_it(nlp, monkeypatch):
    monkeypatch.setattr(nlp, "max_length", 1500)  # stands in for a text over 1,000,000 characters
    with pytest.raises(ValueError, match="E088"):
        nlp(SEED_BODY)
    (result,) = analyze_texts(nlp, [SEED_BODY])
    assert "error" not in result and result["entities"]
    assert_offsets_point_into(SEED_BODY, result)


def test_an_extractor_failure_is_that_texts_error_only(nlp, monkeypatch):
    real = nlp_module.extract_entities

    def failing(doc, text=None):
        if "EXPLODE" in doc.text:
            raise RuntimeError("extractor broke")
        return real(doc, text)

    monkeypatch.setattr(nlp_module, "extract_entities", failing)
    results = analyze_texts(nlp, [SEED_BODY, "EXPLODE. " + SEED_BODY, SEED_BODY])
    assert results[1] == {"entities": [], "quotes": [], "error": "RuntimeError: extractor broke"}
    assert results[0]["entities"] and results[2]["entities"] and "error" not in results[2]


def test_a_spacy_failure_in_a_batch_is_that_texts_error_only(nlp, monkeypatch):
    real = nlp.make_doc

    def failing(text):
        if "EXPLODE" in text:
            raise ValueError("spaCy broke")
        return real(text)

    monkeypatch.setattr(nlp, "make_doc", failing)
    results = analyze_texts(nlp, [SEED_BODY, "EXPLODE. " + SEED_BODY, SEED_BODY])
    assert results[1]["error"] == "ValueError: spaCy broke" and results[1]["entities"] == []
    assert results[0]["entities"] and results[2]["entities"]
    assert json.dumps(results[0]) == json.dumps(results[2])


# ---------------------------------------------------------------- Beam


def test_batching_puts_an_article_longer_than_the_budget_alone_and_never_emits_an_empty_batch():
    """The cause of `ValueError: not enough values to unpack` in RunInference: BatchElements
    emitted an empty batch before an article heavier than the whole budget."""
    kwargs = SpacyModelHandler().batch_elements_kwargs()
    elements = [("big", "x" * (MAX_BATCH_CHARS + 18)), ("a", "y" * 10), ("b", "z" * 10)]
    with beam_pipeline() as p:
        batches = p | beam.Create(elements) | beam.BatchElements(**kwargs)
        assert_that(batches | beam.Map(lambda batch: sorted(key for key, _ in batch)), equal_to([["big"], ["a", "b"]]))


def test_run_inference_analyses_an_article_longer_than_a_batch():
    big = long_text(100_018)
    articles = [
        {"article_id": aid, "date": "2026-03-17", "run_id": "r1", "text": text}
        for aid, text in (("big", big), ("small1", SEED_BODY), ("small2", SEED_BODY))
    ]

    def offsets_hold(entities):
        found = {e["article_id"] for e in entities}
        if found != {"big", "small1", "small2"}:
            raise BeamAssertException(f"entities for {found}")
        later = [e for e in entities if e["article_id"] == "big" and e["start"] >= MAX_BATCH_CHARS]
        if not later or any(big[e["start"] : e["end"]] != e["text"] for e in later):
            raise BeamAssertException(f"{len(later)} entities past the first piece, or wrong offsets")

    with beam_pipeline() as p:
        entities, quotes, rejects = p | beam.Create(articles) | ExtractEntitiesAndQuotes()
        assert_that(entities, offsets_hold, label="entities")
        assert_that(
            quotes | beam.Map(lambda q: q["article_id"]) | beam.Distinct(),
            equal_to(["big", "small1", "small2"]),
            label="quotes",
        )
        assert_that(rejects, equal_to([]), label="no rejects")


def test_run_keeps_a_failed_article_and_counts_it(tmp_path, monkeypatch, capsys):
    """`newsbeam run` (in-process runner): the failing article is a row, an nlp reject and
    nlp_failures=1; the other articles get their entities."""
    real = nlp_module.extract_quotes

    def failing(doc, entities, text=None):
        if "EXPLODE" in doc.text:
            raise RuntimeError("quotes broke")
        return real(doc, entities, text)

    monkeypatch.setattr(nlp_module, "extract_quotes", failing)
    inputs = tmp_path / "in"
    inputs.mkdir()
    # three different stories: near-duplicates would get no NLP of their own
    (inputs / "a.txt").write_text(
        'First\nMayor Patricia Lindell opened the bridge in Springfield on Monday. "It is a great day," she said.',
        encoding="utf-8",
    )
    (inputs / "b.txt").write_text(
        "Second\nEXPLODE. The Bank of England raised rates again, said Governor Andrew Bailey.", encoding="utf-8"
    )
    (inputs / "c.txt").write_text(
        "Third\nMicrosoft bought a robotics startup in Berlin, according to Satya Nadella.", encoding="utf-8"
    )
    output = tmp_path / "out"
    assert main(["run", "--input", str(inputs), "--output", str(output)]) == 0
    assert "articles=3" in capsys.readouterr().out.splitlines()[-1]
    con = open_output(str(output))
    titles = dict(con.execute("SELECT article_id, title FROM articles").fetchall())
    assert sorted(titles.values()) == ["First", "Second", "Third"]
    with_entities = {titles[a] for (a,) in con.execute("SELECT DISTINCT article_id FROM entities").fetchall()}
    assert with_entities == {"First", "Third"}
    (reject,) = con.execute("SELECT input, stage, error, detail FROM rejects").fetchall()
    failed = next(a for a, t in titles.items() if t == "Second")
    assert reject == (f"article:{failed}", "nlp", "nlp_failed", "RuntimeError: quotes broke")


def test_run_summary_counts_nlp_failures(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(nlp_module, "extract_entities", lambda doc, text=None: 1 / 0)
    (tmp_path / "a.txt").write_text("Title\n" + SEED_BODY, encoding="utf-8")
    assert main(["run", "--input", str(tmp_path / "a.txt"), "--output", str(tmp_path / "out")]) == 0
    assert "nlp_failures=1" in capsys.readouterr().out


# ---------------------------------------------------------------- newsbeam extract


def test_extract_goes_on_after_an_article_that_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(nlp_module, "extract_entities", lambda doc, text=None: 1 / 0 if "EXPLODE" in doc.text else [])
    (tmp_path / "a.txt").write_text("Bad\nEXPLODE.", encoding="utf-8")
    (tmp_path / "b.txt").write_text("Good\nFine text.", encoding="utf-8")
    bad, good = extract_files([str(tmp_path / "a.txt"), str(tmp_path / "b.txt")])
    assert bad["error"] == "nlp/nlp_failed: ZeroDivisionError: division by zero" and bad["title"] == "Bad"
    assert good["title"] == "Good" and "error" not in good


@pytest.mark.long
def test_extract_analyses_a_file_over_spacy_max_length_and_goes_on(nlp, tmp_path, capsys):
    """The default path end to end: 1.2M characters, above spaCy's 1,000,000 (E088 before)."""
    huge = long_text(1_200_000)
    (tmp_path / "huge.txt").write_text("Huge\n" + huge, encoding="utf-8")
    (tmp_path / "next.txt").write_text("Next\n" + SEED_BODY, encoding="utf-8")
    assert main(["extract", str(tmp_path / "huge.txt"), str(tmp_path / "next.txt")]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["title"], "error" in r) for r in records] == [("Huge", False), ("Next", False)]
    assert records[0]["text"] == huge
    assert records[0]["entities"][-1]["start"] > 1_150_000
    assert_offsets_point_into(huge, records[0])
    assert records[1]["entities"] == analyze_texts(nlp, [SEED_BODY])[0]["entities"]


def test_extract_nlp_batch_chars_cuts_pieces_on_the_command_line(capsys):
    """`newsbeam extract --nlp-batch-chars N`: the seed article in pieces of at most N
    characters still gives entities whose offsets point into the whole text."""
    assert main(["extract", "--nlp-batch-chars", "600", str(SEED_ARTICLE)]) == 0
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    text = record["text"]
    assert len(text) > 1200 and "error" not in record
    late = [e for e in record["entities"] if e["start"] > 600]
    assert late and all(text[e["start"] : e["end"]] == e["text"] for e in record["entities"])
    assert main(["extract", "--nlp-batch-chars", "0", str(SEED_ARTICLE)]) == 2
