"""`newsbeam extract`: the pipeline's parse and NLP functions on files, without Beam."""

from datetime import datetime, timezone

from transforms.ingest.formats import is_skipped
from transforms.ingest.parse import parse_raw, validate
from transforms.ingest.read import display_name, list_files, read_file
from transforms.languages import article_language, load_identifier
from transforms.nlp.inference import (
    MAX_BATCH_CHARS,
    LoadedModels,
    analyze_in_languages,
    language_models,
    nlp_input,
    nlp_reject,
)
from transforms.rejects import is_reject, make_reject


def parsed_articles(path: str) -> list[dict]:
    """The ParsedArticles of one file, or the Rejects that say why there are none.
    Records a format skips by design (a WARC's requests, images, redirects) are no
    articles and no errors: left out, as a run leaves them out."""
    now = datetime.now(timezone.utc)
    out: list[dict] = []
    for raw in read_file(path, now):
        if is_reject(raw):
            return [raw]
        out.extend(validate(parsed) for parsed in parse_raw(raw) if not is_skipped(parsed))
    return out


def error_record(reject: dict) -> dict:
    detail = f": {reject['detail']}" if reject.get("detail") else ""
    return {"path": reject["input"], "error": f"{reject['stage']}/{reject['error']}{detail}"}


def listed_files(spec: str) -> tuple[list, list[dict]]:
    """(files, rejects) of a spec as `run` lists it (a file, a folder read recursively,
    a glob), with a reject for a spec that names no file (`run` refuses such a spec)."""
    files, rejects = list_files(spec)
    if not files and not rejects:
        rejects = [make_reject(display_name(spec), "read", "unreadable", "no file matches")]
    return files, rejects


def extract_files(specs: list[str], model_name: str | None = None, max_chars: int = MAX_BATCH_CHARS):
    """Yield one JSON-ready dict per article (per file for plain files) of every file
    the specs name (files, folders, globs: see `listed_files`); errors as records.

    Texts go through the pipeline's own analyze_texts, so a text longer than max_chars
    is analysed in pieces exactly as in a run, and an article spaCy or the extractors
    fail on keeps its record with an `error` (as an `nlp` reject) while the next go on.
    """
    models, loaded, identifier = language_models(model_name), None, None  # loaded when a file has articles
    for spec in specs:
        files, rejects = listed_files(spec)
        for reject in rejects:
            yield error_record(reject)
        for path in files:
            articles = parsed_articles(path)
            good = [a for a in articles if not is_reject(a)]
            for reject in (a for a in articles if is_reject(a)):
                yield error_record(reject)
            if not good:
                continue
            loaded, identifier = loaded or LoadedModels(models), identifier or load_identifier()
            good = [{**a, "language": article_language(a, identifier)} for a in good]
            analyses = analyze_in_languages(loaded, [nlp_input(a, models) for a in good], max_chars)
            for article, analysis in zip(good, analyses):
                record = {
                    "path": article["input"],
                    "title": article["title"],
                    "language": article["language"],
                    "text": article["text"],
                    "entities": analysis["entities"],
                    "quotes": analysis["quotes"],
                }
                if analysis.get("error"):
                    record["error"] = error_record(nlp_reject(article["input"], analysis["error"]))["error"]
                yield record
