"""`newsbeam extract`: the pipeline's parse and NLP functions on files, without Beam."""
from datetime import datetime, timezone

from transforms.nlp.inference import MAX_BATCH_CHARS, analyze_texts, load_spacy_model, nlp_reject
from transforms.ingest.parse import parse_raw, validate
from transforms.ingest.read import read_file
from transforms.rejects import is_reject


def parsed_articles(path: str) -> list[dict]:
    """The ParsedArticles of one file, or the Rejects that say why there are none."""
    now = datetime.now(timezone.utc)
    out = []
    for raw in read_file(path, now):
        if is_reject(raw):
            return [raw]
        out.extend(validate(parsed) for parsed in parse_raw(raw))
    return out


def error_record(reject: dict) -> dict:
    detail = f": {reject['detail']}" if reject.get("detail") else ""
    return {"path": reject["input"], "error": f"{reject['stage']}/{reject['error']}{detail}"}


def extract_files(paths: list[str], model_name: str | None = None, max_chars: int = MAX_BATCH_CHARS):
    """Yield one JSON-ready dict per article (per file for plain files); errors as records.

    Texts go through the pipeline's own analyze_texts, so a text longer than max_chars
    is analysed in pieces exactly as in a run, and an article spaCy or the extractors
    fail on keeps its record with an `error` (as an `nlp` reject) while the next go on.
    """
    nlp = None
    for path in paths:
        articles = parsed_articles(path)
        good = [a for a in articles if not is_reject(a)]
        for reject in (a for a in articles if is_reject(a)):
            yield error_record(reject)
        if not good:
            continue
        nlp = nlp or load_spacy_model(model_name)
        texts = [a["text"] for a in good]
        for article, analysis in zip(good, analyze_texts(nlp, texts, max_chars=max_chars)):
            record = {"path": article["input"], "title": article["title"], "text": article["text"],
                      "entities": analysis["entities"], "quotes": analysis["quotes"]}
            if analysis.get("error"):
                record["error"] = error_record(nlp_reject(article["input"], analysis["error"]))["error"]
            yield record
