"""Cue verbs ("said", "told reporters", "shot back", "as X put it") and their subjects."""

from transforms.nlp.lexicon import (
    AUDIENCE_WORDS,
    CUE_VERBS,
    CUE_VERBS_BY_LANGUAGE,
    GROUP_PRONOUNS,
    IRREGULAR_FORMS,
    NAMING_LEMMAS,
    PARTICLE_CUES,
    PERSON_PRONOUNS,
    RELATIVE_PRONOUNS,
)
from transforms.nlp.quotes.context import Context


def is_cue(tok) -> bool:
    lemma = tok.lemma_.lower()
    verbs = CUE_VERBS_BY_LANGUAGE.get(tok.doc.lang_, CUE_VERBS)
    if lemma not in verbs and tok.lower_ in verbs:
        lemma = tok.lower_  # a form the lemmatiser left alone ("estime")
    if lemma in verbs and tok.pos_ in ("VERB", "AUX", "NOUN", "PROPN", "ADJ"):
        if lemma in NAMING_LEMMAS:
            return has_subject(tok)
        return tok.pos_ != "NOUN" or tok.dep_ in ("ROOT", "ccomp", "conj", "relcl", "advcl")
    nxt = tok.nbor(1) if tok.i + 1 < len(tok.doc) else None
    if (
        lemma == "put"
        and nxt is not None
        and nxt.lower_ == "it"
        and any(c.lower_ == "as" and c.i < tok.i for c in tok.children)
    ):
        return True  # "as one analyst put it, ..."
    base = IRREGULAR_FORMS.get(tok.lower_, lemma)
    return nxt is not None and (base, nxt.lower_) in PARTICLE_CUES


def subject_of(tok):
    """The subject of a verb; when a bad parse gives it several ("replied state Senator Maya
    Okonjo"), the proper noun."""
    subjects = [c for c in tok.children if c.dep_ in ("nsubj", "nsubjpass")]
    proper = [c for c in subjects if c.pos_ == "PROPN"]
    return (proper or subjects or [None])[0]


def has_subject(tok) -> bool:
    return subject_of(tok) is not None and subject_of(tok).dep_ == "nsubj"


def inherited_subject(tok, steps: int = 4):
    """The subject of a cue, or of the verb it hangs from ("..., adding that ...",
    "continues to argue", "described X and said Y")."""
    for _ in range(steps):
        subj = subject_of(tok)
        if subj is not None:
            return subj
        if tok.dep_ not in ("conj", "xcomp", "advcl", "ccomp", "acl") or tok.head is tok:
            return None
        tok = tok.head
    return None


def cue_text(tok) -> str:
    """The cue as written: the verb, its particle, and an audience ("told reporters")."""
    words = [tok.text]
    aux = [c for c in tok.children if c.dep_ == "aux:tense" and c.i == tok.i - 1]
    if aux:
        words.insert(0, aux[0].text)  # French compound past: "a déclaré"
    for child in tok.children:
        if child.dep_ == "prt" and child.i == tok.i + 1:
            words.append(child.text)
        elif tok.lemma_ == "put" and child.lower_ == "it" and child.i == tok.i + 1:
            words.append(child.text)
    for child in tok.children:
        if child.dep_ in ("dobj", "dative") and child.i > tok.i:
            phrase = tok.doc[child.left_edge.i : child.i + 1].text
            if phrase.lower() in AUDIENCE_WORDS or (
                tok.lemma_ == "tell" and child.pos_ == "PROPN" and child.i - tok.i <= 4
            ):
                words.append(phrase)  # "told reporters", "told CNN", "told the Guardian"
    return " ".join(words)


def mention_span(ctx: Context, head, lo: int, hi: int):
    """The words of a subject phrase: its subtree, cut before a relative clause and kept
    within text[lo:hi] and outside quotes."""
    doc = ctx.doc
    if head.tag_ in ("PRP", "WP") or head.lower_ in PERSON_PRONOUNS | GROUP_PRONOUNS | RELATIVE_PRONOUNS:
        return doc[head.i : head.i + 1]
    left, right = head.left_edge.i, head.right_edge.i
    for child in head.children:
        if child.dep_ in ("relcl", "acl") and child.i > head.i:
            right = min(right, child.left_edge.i - 1)
    while left < head.i and (doc[left].idx < lo or ctx.quote_of_token[left] >= 0 or doc[left].is_punct):
        left += 1
    while right > head.i and (
        doc[right].idx >= hi
        or ctx.quote_of_token[right] >= 0
        or doc[right].is_punct
        or doc[right].lower_ in ("who", "which", "that")
    ):
        right -= 1
    for k in range(head.i + 1, right + 1):  # "Marcus Fell, a hydrologist ... who" stops at "who"
        if doc[k].tag_ in ("WP", "WDT") or doc[k].is_space:
            right = k - 1
            break
    while right > head.i and doc[right].is_punct:
        right -= 1
    return doc[left : right + 1]
