"""What the rules know about one document (`Context`), and offset <-> token helpers."""

import bisect
import re
from dataclasses import dataclass, field
from typing import Any

from transforms.nlp.lexicon import ABBREVIATIONS

SENTENCE_END = re.compile(r"[.!?]+(?=[\s\"”’'»)]*(?:\s|$))")


@dataclass
class Context:
    """What the attribution rules need about one document, computed once."""

    doc: Any  # the spaCy Doc
    text: str
    spans: list
    paragraphs: list  # (start, end) character ranges
    entity_of_token: dict  # token index -> entity dict
    quote_of_token: list  # token index -> index of the span covering it (marks included) or -1
    gender: dict = field(default_factory=dict)  # canonical -> "m" / "f"
    speakers: list = field(default_factory=list)  # Speaker per kept quote, in order
    kept: list = field(default_factory=list)  # span index per kept quote, in order
    surnames: dict | None = None  # surname -> person entity, on first use
    roles: dict | None = None  # canonical -> words describing the person, on first use
    token_starts: list = field(default_factory=list)  # character offset of each token
    person_label: str = "PERSON"  # the model's own person label (PER for WikiNER models)


def token_index_at(ctx: "Context", char: int) -> int | None:
    """Index of the token covering or starting after `char` (a binary search over token
    offsets: `doc.char_span` rebuilds `doc.text` on every call, quadratic on long articles)."""
    starts = ctx.token_starts
    if not starts or char < 0 or char >= len(ctx.text):
        return None
    i = bisect.bisect_right(starts, char) - 1
    if i >= 0 and char < starts[i] + len(ctx.doc[i]):
        return i
    return i + 1 if i + 1 < len(starts) else None


def tokens_between(ctx: Context, lo: int, hi: int) -> list:
    """Tokens starting in text[lo:hi] that are outside every quote and not whitespace."""
    if hi <= lo:
        return []
    span = ctx.doc.char_span(lo, hi, alignment_mode="contract")
    if span is None:
        return []
    return [t for t in span if not t.is_space and ctx.quote_of_token[t.i] < 0]


def quote_of_tokens(doc, spans: list) -> list:
    owner = [-1] * len(doc)
    for k, s in enumerate(spans):
        hi = (s.close_at + 1) if s.close_at is not None else s.end
        span = doc.char_span(s.open_at, hi, alignment_mode="expand")
        if span is not None:
            for t in span:
                owner[t.i] = k
    return owner


def entity_index(doc, entities: list) -> dict:
    """Token index -> entity dict for every token inside an entity mention."""
    out = {}
    for ent in entities:
        span = doc.char_span(ent["start"], ent["end"], alignment_mode="expand")
        if span is not None:
            for t in span:
                out[t.i] = ent
    return out


def paragraph_of(ctx: Context, char: int) -> int:
    for k, (lo, hi) in enumerate(ctx.paragraphs):
        if lo <= char < hi + 1:
            return k
    return len(ctx.paragraphs) - 1


def previous_nonspace(text: str, i: int) -> int:
    while i > 0 and text[i - 1].isspace():
        i -= 1
    return i - 1


def is_abbreviation(text: str, dot: int) -> bool:
    word = re.search(r"([\w.]+)$", text[max(0, dot - 12) : dot])
    if text[dot] != "." or not word:
        return False
    w = word.group(1).lower()
    return w in ABBREVIATIONS or len(w) == 1 or re.fullmatch(r"(\w\.)+\w", w) is not None
