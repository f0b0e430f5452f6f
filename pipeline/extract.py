"""`newsbeam extract`: the pipeline's parse and NLP functions on files, without Beam."""
from datetime import datetime, timezone

from transforms.nlp import analyze_texts, load_spacy_model
from transforms.parse import parse_raw, validate
from transforms.read import read_file
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


def extract_files(paths: list[str], model_name: str | None = None):
    """Yield one JSON-ready dict per article (per file for plain files); errors as records."""
    nlp = None
    for path in paths:
        articles = parsed_articles(path)
        good = [a for a in articles if not is_reject(a)]
        for reject in (a for a in articles if is_reject(a)):
            yield error_record(reject)
        if not good:
            continue
        nlp = nlp or load_spacy_model(model_name)
        for article, analysis in zip(good, analyze_texts(nlp, [a["text"] for a in good])):
            record = {"path": article["input"], "title": article["title"], "text": article["text"],
                      "entities": analysis["entities"], "quotes": analysis["quotes"]}
            if analysis.get("error"):
                record["error"] = analysis["error"]
            yield record
