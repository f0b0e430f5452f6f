"""Quotations of speech in an article, with who said them.

Three steps, each a set of small rules a linguist would recognise:

1. Marks -> spans (`find_quote_spans`): quotation marks are paired on character offsets,
   per paragraph, by type (double vs single), with the article's main type chosen by which
   one pairs up at top level. Apostrophes (it's, players' union), inches (5'11") and stray or
   odd marks never open a quote. A paragraph that opens a quote without closing it, followed
   by a paragraph that opens with a mark, is the first part of a multi-paragraph quote.
2. Span -> quote or not (`keep_quote`): a quote that starts a sentence (or follows a colon or
   comma) is `direct`; one inside the writer's sentence is `partial` and is kept only when it
   sits under a speech cue ("called the plan 'reckless'"). Titles of works, nicknames and
   scare quotes ("so-called", "known as", no cue) are dropped.
3. Quote -> speaker (`attribute`): the cue before the quote (`X said: "..."`, `According to X,
   "..."`), after it (`"...," said X`), around a split quote, after a dash (`"..." - X, role`),
   or, with no cue, the speaker of the previous quote or the subject of the sentence before.
   The words naming the speaker are resolved to the article's canonical entity: pronouns and
   role nouns ("the judge") to the nearest compatible person before, "the company" to the
   organisation, "a spokesperson for X" / "a report by X" to X.

The package follows those steps: `spans` (1), `filters` (2), `cues`, `speakers` and
`attribution` (3), over a `context` built once per document; word lists are in
`transforms/nlp/lexicon.py`, shared with the entity rules.
"""

from transforms.nlp.entity_keys import entity_key
from transforms.nlp.labels import common_label
from transforms.nlp.lexicon import NAME_LABELS
from transforms.nlp.quotes.attribution import attribute, share_across_parts
from transforms.nlp.quotes.context import Context, entity_index, quote_of_tokens
from transforms.nlp.quotes.filters import classify
from transforms.nlp.quotes.spans import DOUBLE_MARKS, SINGLE_MARKS, find_quote_spans, paragraph_ranges
from transforms.nlp.quotes.speakers import Speaker, infer_gender, normalised

# Every character that can open or close a quote: a text without one has no quotes.
QUOTE_CHARS = frozenset(DOUBLE_MARKS) | frozenset(SINGLE_MARKS)


def build_context(doc, entities: list, text: str) -> Context:
    paragraphs = paragraph_ranges(text)
    spans = find_quote_spans(text, paragraphs)
    owner = quote_of_tokens(doc, spans)
    # The rules speak OntoNotes (PERSON); a WikiNER model's PER is read as PERSON and written
    # back as PER in speaker_label, so the label joins its entity's.
    person_label = next((e["label"] for e in entities if common_label(e["label"]) == "PERSON"), "PERSON")
    ent_index = entity_index(doc, [{**e, "label": "PERSON"} if e["label"] == person_label else e for e in entities])
    ctx = Context(doc, text, spans, paragraphs, ent_index, owner, person_label=person_label)
    ctx.token_starts = doc.to_array("IDX").tolist()
    ctx.gender = infer_gender(doc, ent_index, owner)
    return ctx


def record(ctx: Context, k: int, kind: str, spk: Speaker) -> dict:
    span = ctx.spans[k]
    spk = normalised(ctx, spk)
    label = ctx.person_label if spk.label == "PERSON" else spk.label
    return {
        "text": ctx.text[span.start : span.end],
        "start": span.start,
        "end": span.end,
        "speaker": spk.speaker,
        "speaker_mention": spk.mention,
        "speaker_start": spk.start,
        "speaker_end": spk.end,
        "speaker_label": label,
        "speaker_key": entity_key(spk.speaker, label) if label in NAME_LABELS else None,
        "cue": spk.cue,
        "kind": kind,
        "_k": k,
        "_from_cue": spk.from_cue,
    }


def extract_quotes(doc, entities: list[dict], text: str | None = None) -> list[dict]:
    """Quotes of a spaCy Doc: dicts with keys text, start, end (char offsets of the quoted words
    WITHOUT the marks), speaker, speaker_mention, speaker_start, speaker_end, speaker_label, cue,
    kind ('direct'|'partial'), speaker_key (the speaker entity's `entity_key`, null for unnamed
    speakers); [] when there are none. Any text is fine input; an error in the
    rules propagates, so the NLP stage records it (`nlp` reject, `nlp_failures`) instead of the
    article silently losing its quotes. text: doc.text, when the caller has it already
    (spaCy builds it from every token on each access)."""
    text = doc.text if text is None else text
    if not text or not any(c in text for c in QUOTE_CHARS):
        return []
    ctx = build_context(doc, entities or [], text)
    records = []
    for k in range(len(ctx.spans)):
        kind = classify(ctx, k)
        spk = attribute(ctx, k, kind) if kind else None
        if kind is None or spk is None:
            continue
        ctx.kept.append(k)
        ctx.speakers.append(spk)
        records.append(record(ctx, k, kind, spk))
    share_across_parts(ctx, records)
    for r in records:
        r.pop("_k", None)
        r.pop("_from_cue", None)
    return records
