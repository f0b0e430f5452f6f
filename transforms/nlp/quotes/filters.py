"""Span -> quote or not: a quote that starts a sentence (or follows a colon or comma) is
`direct`; one inside the writer's sentence is `partial` (kept by attribution only under a speech
cue). Titles of works, nicknames, codes and scare quotes ("so-called", "known as") are dropped."""

import re

from transforms.nlp.lexicon import NAMING_LEMMAS, NAMING_PHRASES, TITLE_SMALL_WORDS, WORK_NOUNS
from transforms.nlp.quotes.context import Context, previous_nonspace, token_index_at
from transforms.nlp.quotes.cues import has_subject
from transforms.nlp.quotes.spans import WORD_RE, Span


def is_direct_position(text: str, span: Span, paragraph_start: int) -> bool:
    """A quote that opens a paragraph or sentence, or follows a colon, comma or dash."""
    k = previous_nonspace(text, span.open_at)
    return k < paragraph_start or text[k] in ".!?:;,—–-([" or text[k] in "\"”’'"


def quote_words(text: str) -> list:
    return WORD_RE.findall(text)


def is_title_like(quoted: str) -> bool:
    """Every word capitalised ("Night Harbour", "Keep Willowmere Learning") and no sentence
    punctuation: the name of a work, a campaign or a nickname, not speech."""
    words = quote_words(quoted)
    if not words or len(words) > 10 or re.search(r"[.!?]\W*$", quoted.strip()):
        return False
    content = [w for w in words if w.lower() not in TITLE_SMALL_WORDS]
    return bool(content) and all(w[0].isupper() or w[0].isdigit() for w in content)


def is_code_like(quoted: str) -> bool:
    """A label or code ("KM-7"): no lower-case letter at all."""
    return not re.search(r"[a-z]", quoted) and len(quote_words(quoted)) <= 3


def preceding_words(text: str, i: int, n: int = 3) -> str:
    return " ".join(text[max(0, i - 60) : i].lower().split()[-n:])


def is_named_by_phrase(ctx: Context, span: Span) -> bool:
    """Right after "so-called", "known as", "titled", a work noun, or a naming verb without
    a subject ("a film called ...", "a storm dubbed ..."): a name or scare quote. A naming verb
    with a subject is speech ("what he dubbed ...")."""
    k = token_index_at(ctx, previous_nonspace(ctx.text, span.open_at))
    if k is not None and ctx.doc[k].lemma_.lower() in NAMING_LEMMAS:
        return not has_subject(ctx.doc[k])
    before = preceding_words(ctx.text, span.open_at)
    if any(before.endswith(p) for p in NAMING_PHRASES):
        return True
    last = before.split()[-1].strip(",") if before else ""
    return last in WORK_NOUNS


def is_nickname(text: str, span: Span) -> bool:
    """Robert "Bobby" Lane: a short capitalised quote between two capitalised words."""
    if span.close_at is None or len(quote_words(text[span.start : span.end])) > 3:
        return False
    before = re.search(r"([A-Z][\w.\-]*)\s*$", text[max(0, span.open_at - 30) : span.open_at])
    after = re.match(r"\s*([A-Z][\w\-]*)", text[span.close_at + 1 : span.close_at + 30])
    return bool(before and after)


def classify(ctx: Context, k: int) -> str | None:
    """'direct', 'partial' or None (not a quotation of speech)."""
    span = ctx.spans[k]
    quoted = ctx.text[span.start : span.end]
    if span.continuation or span.continues:
        return "direct"
    if is_nickname(ctx.text, span) or is_named_by_phrase(ctx, span) or is_code_like(quoted):
        return None
    para_lo = ctx.paragraphs[span.paragraph][0]
    return "direct" if is_direct_position(ctx.text, span, para_lo) else "partial"
