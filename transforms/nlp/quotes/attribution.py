"""Quote -> speaker: the cue before the quote (`X said: "..."`, `According to X, "..."`),
after it (`"...," said X`), around a split quote, after a dash (`"..." - X, role`), or, with no
cue, the speaker of the previous quote or the subject of the sentence before."""

import re

from transforms.nlp.lexicon import ACCORDING_TO, TERM_NOUNS, TERM_VERBS, WORDS_NOUNS
from transforms.nlp.quotes.context import SENTENCE_END, Context, is_abbreviation, tokens_between
from transforms.nlp.quotes.cues import cue_text, inherited_subject, is_cue, mention_span, subject_of
from transforms.nlp.quotes.filters import is_title_like
from transforms.nlp.quotes.spans import WORD_RE
from transforms.nlp.quotes.speakers import Speaker, entities_in, previous_sentence_subject, resolve_mention

MAX_CUE_SEARCH_STEPS = 40


def region_before(ctx: Context, k: int) -> tuple:
    """Text from the start of the quote's sentence (or the previous quote) to its opening mark."""
    span = ctx.spans[k]
    lo = ctx.paragraphs[span.paragraph][0]
    for m in SENTENCE_END.finditer(ctx.text, lo, span.open_at):
        if not is_abbreviation(ctx.text, m.start()):
            lo = m.end()
    return lo, span.open_at


def region_after(ctx: Context, k: int) -> tuple:
    """Text from the closing mark to the end of the sentence or the next quote."""
    span = ctx.spans[k]
    if span.close_at is None:
        return span.end, span.end
    lo = span.close_at + 1
    hi = ctx.paragraphs[span.paragraph][1]
    if k + 1 < len(ctx.spans) and ctx.spans[k + 1].paragraph == span.paragraph:
        hi = min(hi, ctx.spans[k + 1].open_at)
    for m in SENTENCE_END.finditer(ctx.text, lo, hi):
        if not is_abbreviation(ctx.text, m.start()):
            hi = m.end()
            break
    return lo, hi


def after_is_attribution(ctx: Context, k: int) -> bool:
    """The sentence goes on after the closing mark: the quote ends in a comma (or ?/!/dash
    followed by a lower-case word), or a comma follows the mark."""
    span = ctx.spans[k]
    if span.close_at is None:
        return False
    inner = ctx.text[span.start : span.end].rstrip()
    rest = ctx.text[span.close_at + 1 : span.close_at + 40]
    if not inner:
        return False
    if inner[-1] in ",;" or rest.lstrip().startswith(","):
        return True
    if inner[-1] in "?!—–-…":
        return bool(re.match(r"\s*[a-z]", rest))
    return inner[-1] not in "." and bool(re.match(r"\s*[a-z]", rest))


def ends_clause_before_cue(ctx: Context, k: int) -> bool:
    """`The plan is "reckless," she said`: a comma closes the quoted words and a cue verb
    follows within a few words, so the sentence is attributed after the quote."""
    span = ctx.spans[k]
    if span.close_at is None:
        return False
    inner = ctx.text[span.start : span.end].rstrip()
    rest = ctx.text[span.close_at + 1 : span.close_at + 60]
    if not (inner.endswith(",") or rest.startswith(",")):
        return False
    lo = span.close_at + 1
    toks = tokens_between(ctx, lo, min(len(ctx.text), lo + 60))[:6]
    return any(is_cue(t) for t in toks)


def before_is_attribution(ctx: Context, lo: int, hi: int) -> bool:
    tail = ctx.text[lo:hi].rstrip()
    return bool(tail) and tail[-1] in ":,—–"


def cue_speaker(ctx: Context, lo: int, hi: int, nearest_last: bool) -> Speaker | None:
    """The speaker named by a cue in text[lo:hi]: "according to X", or a cue verb and its
    subject (or, when the parse has none, the name or pronoun next to the verb)."""
    toks = tokens_between(ctx, lo, hi)
    if not toks:
        return None
    for j in range(len(toks)):
        n = according_to_length(toks, j)
        if n:
            phrase = [t for t in toks[j + n :] if not t.is_punct or t.text in ".-&'’"]
            end = next((m for m, t in enumerate(toks[j + n :]) if t.text in ",;:"), len(toks) - j - n)
            words = toks[j + n : j + n + end]
            while words and words[-1].is_punct:
                words = words[:-1]
            if phrase and words:
                mention = ctx.doc[words[0].i : words[-1].i + 1]
                cue = " ".join(t.lower_ for t in toks[j : j + n])
                return resolve_mention(ctx, mention, cue, mention.start_char)
    cues = [t for t in toks if is_cue(t)]
    if not cues:
        return None
    ordered = list(reversed(cues)) if nearest_last else cues
    for cue in ordered:
        subj = inherited_subject(cue)
        if subj is not None and lo <= subj.idx < hi and ctx.quote_of_token[subj.i] < 0:
            mention = subject_phrase(ctx, subj, lo, hi)
            return resolve_mention(ctx, mention, cue_text(cue), mention.start_char)
    cue = ordered[0]
    mention = adjacent_name(ctx, toks, cue)
    if mention is not None:
        return resolve_mention(ctx, mention, cue_text(cue), mention.start_char)
    return Speaker(cue=cue_text(cue))


def according_to_speaker(ctx: Context, lo: int, hi: int) -> Speaker | None:
    """The speaker of an "according to X" phrase in text[lo:hi], and only of that: a partial quote
    followed by any other cue verb later in its sentence may still be a scare quote."""
    toks = tokens_between(ctx, lo, hi)
    if any(according_to_length(toks, j) for j in range(len(toks))):
        return cue_speaker(ctx, lo, hi, nearest_last=False)
    return None


def according_to_length(toks: list, j: int) -> int:
    """Number of tokens of an "according to" phrase ("selon", "d'après") starting at toks[j], or 0."""
    for phrase in ACCORDING_TO:
        if tuple(t.lower_ for t in toks[j : j + len(phrase)]) == phrase and j + len(phrase) < len(toks):
            return len(phrase)
    return 0


def subject_phrase(ctx: Context, subj, lo: int, hi: int):
    """The subject's words, joined with sibling subjects a bad parse split off
    ("co" / "-" / "founder and chief executive, Kenji Halvorsen")."""
    siblings = [
        c for c in subj.head.children if c.dep_ == subj.dep_ and ctx.quote_of_token[c.i] < 0 and lo <= c.idx < hi
    ]
    group = [subj]
    for c in sorted(siblings, key=lambda t: t.i):
        if c.i == group[-1].right_edge.i + 1:
            group.append(c)
    if len(group) == 1:
        return mention_span(ctx, subj, lo, hi)
    first = mention_span(ctx, group[0], lo, hi)
    last = mention_span(ctx, group[-1], lo, hi)
    return ctx.doc[first.start : last.end]


def adjacent_name(ctx: Context, toks: list, cue):
    """When the parse gave the cue no subject: the words of the clause right before it
    ("Okonjo shot back", "The ruling states:"), else the name right after it ("said Ms Pryce")."""
    pos = toks.index(cue)
    clause: list = []
    for t in reversed(toks[:pos]):
        if t.is_punct or t.lower_ in ("and", "but", "that") or len(clause) >= 8:
            break
        clause.insert(0, t)
    while clause and clause[-1].pos_ == "ADV":
        clause.pop()
    if clause and any(t.pos_ in ("PROPN", "NOUN", "PRON") or t.is_title for t in clause):
        return ctx.doc[clause[0].i : clause[-1].i + 1]
    after = [t for t in toks[pos + 1 :] if t.pos_ in ("PROPN", "NOUN", "PRON")]
    if after and after[0].i <= cue.i + 4:
        tok = after[0]
        while tok.dep_ == "compound" and tok.head.i > tok.i:
            tok = tok.head
        return mention_span(ctx, tok, toks[0].idx, toks[-1].idx + len(toks[-1]))
    return None


def dash_speaker(ctx: Context, lo: int, hi: int) -> Speaker | None:
    """`"..." — Jane Doe, chief executive`: the line after a dash names the speaker."""
    text = ctx.text[lo:hi]
    m = re.match(r"\s*(?:[—–]|--?)\s*", text)
    if not m:
        return None
    start = lo + m.end()
    end = lo + len(text.rstrip(" .\n"))
    mention = ctx.doc.char_span(start, end, alignment_mode="expand")
    if mention is None or not len(mention) or any(t.pos_ in ("VERB", "AUX") for t in mention):
        return None  # '"…" — drew applause': the sentence goes on
    ents = [e for e in entities_in(ctx, mention) if e["label"] in ("PERSON", "ORG")]
    ents.sort(key=lambda e: e["label"] != "PERSON")
    if ents:
        return Speaker(ents[0]["canonical"], mention.text, mention.start_char, mention.end_char, ents[0]["label"], "—")
    first = mention.text.split(",")[0]
    return Speaker(first, mention.text, mention.start_char, mention.end_char, None, "—")


def partial_cue_speaker(ctx: Context, k: int) -> Speaker | None:
    """A partial quote is speech when, going up the parse from the quoted words, we reach a
    cue verb through its complement (not its subject) within the paragraph."""
    span = ctx.spans[k]
    inner = ctx.doc.char_span(span.start, span.end, alignment_mode="expand")
    if inner is None or not len(inner):
        return None
    para_lo, para_hi = ctx.paragraphs[span.paragraph]
    tok, steps, first_cue = inner.root, 0, None
    while tok.head.i != tok.i and steps < MAX_CUE_SEARCH_STEPS:
        if tok.dep_ in ("nsubj", "nsubjpass", "csubj", "csubjpass"):
            break
        head = tok.head
        if not para_lo <= head.idx < para_hi:
            break
        if ctx.quote_of_token[head.i] < 0 and is_cue(head):
            first_cue = first_cue or head
            subj = inherited_subject(head)
            if subj is not None and ctx.quote_of_token[subj.i] < 0 and para_lo <= subj.idx < para_hi:
                mention = mention_span(ctx, subj, para_lo, para_hi)
                return resolve_mention(ctx, mention, cue_text(head), mention.start_char)
        tok, steps = head, steps + 1
    return Speaker(cue=cue_text(first_cue)) if first_cue is not None else None


def previous_quote_speaker(ctx: Context, k: int, same_paragraph_only: bool) -> Speaker | None:
    span = ctx.spans[k]
    for j in range(len(ctx.speakers) - 1, -1, -1):
        prev = ctx.spans[ctx.kept[j]]
        if prev.start >= span.start:
            continue
        if same_paragraph_only and prev.paragraph != span.paragraph:
            return None
        if span.paragraph - prev.paragraph > 1:
            return None
        spk = ctx.speakers[j]
        return spk if spk.speaker else None
    return None


def attribute_direct(ctx: Context, k: int) -> Speaker:
    """Cue before a colon, then cue after the quote, then cue before a comma, then dash,
    then no cue: previous quote in the sentence before, or subject of the sentence before."""
    span = ctx.spans[k]
    b_lo, b_hi = region_before(ctx, k)
    a_lo, a_hi = region_after(ctx, k)
    before_text = ctx.text[b_lo:b_hi].rstrip()
    if before_text.endswith(":"):
        found = cue_speaker(ctx, b_lo, b_hi, nearest_last=True)
        if found is not None and found.speaker:
            return mark_cue(found)
        subject = previous_sentence_subject(ctx, b_hi) if not found else None
        if found is None and subject is None:
            toks = tokens_between(ctx, b_lo, b_hi)
            subj = next((t for t in toks if t.dep_ in ("nsubj", "nsubjpass")), None)
            if subj is not None:
                return mark_cue(resolve_mention(ctx, mention_span(ctx, subj, b_lo, b_hi), ":", subj.idx))
    if after_is_attribution(ctx, k):
        found = cue_speaker(ctx, a_lo, a_hi, nearest_last=False)
        if found is not None:
            return mark_cue(found)
    if before_is_attribution(ctx, b_lo, b_hi):
        found = cue_speaker(ctx, b_lo, b_hi, nearest_last=True)
        if found is not None:
            return mark_cue(found)
    found = dash_speaker(ctx, a_lo, ctx.paragraphs[span.paragraph][1]) if span.close_at is not None else None
    if found is not None:
        return mark_cue(found)
    found = words_owner_speaker(ctx, b_lo, b_hi) or message_from_speaker(ctx, a_lo, a_hi)
    if found is not None:
        return mark_cue(found)
    return no_cue_speaker(ctx, k)


def message_from_speaker(ctx: Context, lo: int, hi: int) -> Speaker | None:
    """`"…" That was the message from Mayor X on Monday.`: the sentence after the quote points
    back at it (that/this) and names whose words they were."""
    toks = tokens_between(ctx, lo, hi)
    if not toks or toks[0].lower_ not in ("that", "this", "such") or toks[0].dep_ not in ("nsubj", "nsubjpass"):
        return None
    for tok in toks[1:8]:
        if tok.lemma_.lower() in WORDS_NOUNS:
            for prep in tok.children:
                target = (
                    next((c for c in prep.children if c.dep_ == "pobj"), None)
                    if prep.dep_ == "prep" and prep.lower_ in ("from", "of", "by")
                    else None
                )
                if target is not None:
                    found = resolve_mention(ctx, mention_span(ctx, target, lo, hi), None, target.idx)
                    if found.label is not None:
                        return found
    return None


def words_owner_speaker(ctx: Context, lo: int, hi: int) -> Speaker | None:
    """`Her verdict — "…"`, `His answer: "…"`: a noun of someone's words right before the quote
    (after a dash or colon) gives the quote to its owner."""
    if not re.search(r"[—–:]\s*$", ctx.text[lo:hi]):
        return None
    toks = [t for t in tokens_between(ctx, lo, hi) if not t.is_punct]
    if not toks or toks[-1].lemma_.lower() not in WORDS_NOUNS:
        return None
    owner = next((c for c in toks[-1].children if c.dep_ == "poss"), None)
    if owner is None:
        return None
    found = resolve_mention(ctx, ctx.doc[owner.left_edge.i : owner.i + 1], None, owner.idx)
    return found if found.speaker else None


def term_user_speaker(ctx: Context, lo: int, hi: int) -> Speaker | None:
    """`the "managed decline", a term Whitfield used`: the quoted words are the user's."""
    for tok in tokens_between(ctx, lo, hi)[:12]:
        if tok.lemma_.lower() not in TERM_NOUNS:
            continue
        for verb in tok.children:
            subj = subject_of(verb) if verb.dep_ in ("relcl", "acl") and verb.lemma_.lower() in TERM_VERBS else None
            if subj is not None and ctx.quote_of_token[subj.i] < 0:
                mention = mention_span(ctx, subj, lo, hi)
                return resolve_mention(ctx, mention, f"{tok.text} {verb.text}", mention.start_char)
    return None


def mark_cue(found: Speaker) -> Speaker:
    found.from_cue = True
    return found


def no_cue_speaker(ctx: Context, k: int) -> Speaker:
    """No cue: the speaker of the quote just before (same paragraph, or the sentence before
    holds a quote), else the subject of the sentence before, else the previous quote's
    speaker one paragraph back."""
    span = ctx.spans[k]
    same_para = previous_quote_speaker(ctx, k, same_paragraph_only=True)
    b_lo, _ = region_before(ctx, k)
    gap = ctx.text[b_lo : span.open_at]
    if same_para is not None and not WORD_RE.search(gap):
        return inherited(same_para)
    subject = previous_sentence_subject(ctx, span.open_at)
    if subject is not None:
        return subject
    earlier = previous_quote_speaker(ctx, k, same_paragraph_only=False)
    return inherited(earlier) if earlier is not None else Speaker()


def inherited(spk: Speaker) -> Speaker:
    return Speaker(spk.speaker, spk.mention, spk.start, spk.end, spk.label, None)


def attribute(ctx: Context, k: int, kind: str) -> Speaker | None:
    """The speaker of quote k, or None when a partial or title-like quote has no cue."""
    span = ctx.spans[k]
    quoted = ctx.text[span.start : span.end]
    if kind == "partial":
        found = partial_cue_speaker(ctx, k)
        if found is None and ends_clause_before_cue(ctx, k):
            a_lo, a_hi = region_after(ctx, k)
            found = cue_speaker(ctx, a_lo, a_hi, nearest_last=False)
        if found is None:  # '"managed decline", a term X used'
            found = term_user_speaker(ctx, *region_after(ctx, k))
        if found is None:  # '... are "not fit for purpose", according to X.'
            found = according_to_speaker(ctx, *region_after(ctx, k))
        if found is None or is_title_like(quoted):
            return None
        return mark_cue(found)
    found = attribute_direct(ctx, k)
    if is_title_like(quoted) and not found.from_cue:
        return None
    return found


def share_across_parts(ctx: Context, records: list):
    """Parts of one multi-paragraph quote share the speaker found by a cue on any part."""
    by_span = {r["_k"]: r for r in records}
    chains: list[list[int]] = []
    chain: list[int] = []
    for k, span in enumerate(ctx.spans):
        if k in by_span and (span.continuation and chain):
            chain.append(k)
        else:
            if len(chain) > 1:
                chains.append(chain)
            chain = [k] if k in by_span else []
        if not span.continues and chain and chain[-1] == k and len(chain) > 1:
            chains.append(chain)
            chain = []
    if len(chain) > 1:
        chains.append(chain)
    for chain in chains:
        cued = [by_span[k] for k in chain if by_span[k]["_from_cue"] and by_span[k]["speaker"]]
        if cued:
            for k in chain:
                if not by_span[k]["_from_cue"]:
                    by_span[k].update(
                        {
                            key: cued[-1][key]
                            for key in ("speaker", "speaker_mention", "speaker_start", "speaker_end", "speaker_label")
                        }
                    )
