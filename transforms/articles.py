"""Pure functions that turn a parsed article into a row of the articles table."""

import hashlib
import re
import unicodedata
from datetime import datetime, timezone
from urllib.parse import urlsplit

from transforms.ingest.urls import canonical_url


def character_folder(mapping: dict):
    """A function replacing each character of `mapping` by its value, like str.translate
    but fast on non-ASCII text: there str.translate looks up every character, while a
    regex finds the few that change."""
    pattern = re.compile("[" + re.escape("".join(mapping)) + "]")
    return lambda text: pattern.sub(lambda match: mapping[match.group()], text)


# Typographic variants folded before hashing, so the same text with curly or
# straight quotes, or other dashes, hashes the same.
fold_quotes = character_folder(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
    }
)
_WORD = re.compile(r"\w+")


def normalise_for_hash(text: str) -> str:
    text = fold_quotes(unicodedata.normalize("NFKC", text or "").casefold())
    # Runs of whitespace as one space, ends stripped: str.split() splits on the same
    # characters as \s (both str.isspace), three times faster than re.sub here.
    return " ".join(text.split())


def content_hash(text: str) -> str:
    return hashlib.sha256(normalise_for_hash(text).encode("utf-8")).hexdigest()[:32]


ARTICLE_ID = re.compile(r"[0-9a-f]{16}\Z")  # what make_article_id makes


def make_article_id(canonical: str | None, input_name: str, text_hash: str) -> str:
    """Same canonical URL (or, without one, same input file name) and same content => same id.

    The file name, not its full path, so moving the input folder keeps the ids.
    """
    identity = canonical or input_name.rsplit("/", 1)[-1]
    return hashlib.sha256(f"{identity}\n{text_hash}".encode()).hexdigest()[:16]


def word_count(text: str) -> int:
    return len(_WORD.findall(text or ""))


def source_name(parsed: dict, url: str | None) -> str:
    if parsed.get("source"):
        return parsed["source"]
    if url:
        try:
            return urlsplit(url).hostname or url
        except ValueError:  # "http://[" and the like: not a URL we can name a host of
            return url
    return parsed["input"].rsplit("/", 1)[-1].split("#", 1)[0]


def to_utc(value) -> datetime | None:
    """A datetime in UTC (naive ones are UTC); anything else, or a moment that UTC
    cannot hold, is None (the date is then inferred)."""
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None


def partition_date(moment: datetime) -> str:
    """YYYY-MM-DD, zero-padded for years before 1000 too (strftime's %Y is not)."""
    return moment.astimezone(timezone.utc).date().isoformat()


def finalize_article(parsed: dict, run_id: str, ingested_at: datetime) -> dict:
    """ParsedArticle (docs/CONTRACTS.md) -> a row of schemas.tables.ARTICLES."""
    text = parsed.get("text") or ""
    url = parsed.get("url") or None
    canonical = canonical_url(url)
    text_hash = content_hash(text)
    published = to_utc(parsed.get("published_at"))
    # Without a publication date: when the page was fetched, if the input says (a WARC
    # record's WARC-Date), else now. date_inferred tells either way.
    fallback = to_utc(parsed.get("fetched_at")) or ingested_at
    return {
        "article_id": make_article_id(canonical, parsed["input"], text_hash),
        "url": url,
        "canonical_url": canonical,
        "source": source_name(parsed, url),
        "title": parsed.get("title") or None,
        "text": text,
        "authors": list(parsed.get("authors") or []),
        "language": parsed.get("language") or None,
        "published_at": published or fallback,
        "date_inferred": published is None,
        "ingested_at": ingested_at,
        "content_hash": text_hash,
        "duplicate_of": None,
        "duplicate_reason": None,
        "revision_of": None,
        "text_source": parsed.get("text_source") or "file",
        "input": parsed["input"],
        "word_count": word_count(text),
        "run_id": run_id,
        "date": partition_date(published or fallback),
    }
