"""spaCy's memory zones around the analysis (transforms.nlp.inference.LoadedModels): the
words of a pipeline's first texts stay, cached; later ones are freed when their zone is
renewed, never while an analysis runs; the zones never change an analysis."""

import pytest

from transforms.nlp.inference import LoadedModels, analyze_in_languages, language_models


def text_with(word: str) -> str:
    return f'"We will see," said {word} Jones, the mayor of Springfield, on Tuesday.'


def analysed(loaded: LoadedModels, *words: str) -> list[dict]:
    return analyze_in_languages(loaded, [("en", text_with(word)) for word in words])


def known(loaded: LoadedModels, word: str) -> bool:
    return word in loaded.loaded[loaded.models.fallback].vocab.strings


@pytest.fixture(scope="module")
def models():
    return language_models(None)


def test_the_first_texts_words_stay_and_later_ones_go_when_their_zone_is_renewed(models):
    size = len(text_with("Zorblefax"))
    loaded = LoadedModels(models, warm_chars=size, zone_chars=2 * size)
    analysed(loaded, "Zorblefax")  # the warm-up: outside any zone
    analysed(loaded, "Quillibrant")  # opens a zone
    analysed(loaded, "Brondavix")  # the same zone, now full
    assert known(loaded, "Zorblefax") and known(loaded, "Quillibrant") and known(loaded, "Brondavix")
    analysed(loaded, "Trevanquil")  # the full zone closes first, a new one opens
    assert known(loaded, "Zorblefax"), "a word of the warm-up was freed"
    assert not known(loaded, "Quillibrant") and not known(loaded, "Brondavix"), "the renewed zone kept its words"
    assert known(loaded, "Trevanquil")


def test_a_full_zone_does_not_close_while_an_analysis_runs(models):
    size = len(text_with("Pelmorath"))
    loaded = LoadedModels(models, warm_chars=0, zone_chars=size + 5)
    analysed(loaded, "Pelmorath")
    with loaded.analysing(models.fallback, 10):  # another thread's analysis, still running: the zone is full
        analysed(loaded, "Vostrikane")
        assert known(loaded, "Pelmorath"), "a zone closed under a running analysis"
    analysed(loaded, "Ulgremont")
    assert not known(loaded, "Pelmorath") and not known(loaded, "Vostrikane")
    assert loaded.running == 0


def test_zones_never_change_an_analysis(models):
    words = ["Smith", "Okonkwo", "Nakamura", "Smith"]
    every_text_in_a_zone = analysed(LoadedModels(models, warm_chars=0, zone_chars=1), *words)
    never_in_a_zone = analysed(LoadedModels(models, warm_chars=10**9), *words)
    assert every_text_in_a_zone == never_in_a_zone
    assert all(analysis["quotes"] and analysis["entities"] for analysis in never_in_a_zone)
