"""Mention -> speaker: the words naming a speaker resolved to the article's canonical entity.
Pronouns and role nouns ("the judge") go to the nearest compatible person before, "the company"
to the organisation, "a spokesperson for X" / "a report by X" to X."""

import re
from collections.abc import Collection
from dataclasses import dataclass

from transforms.nlp.lexicon import (
    DOCUMENT_NOUNS,
    FEMALE_WORDS,
    GROUP_LABEL,
    GROUP_NOUNS,
    GROUP_PRONOUNS,
    HONORIFICS,
    LEADING_ARTICLES,
    MALE_WORDS,
    NAME_LABELS,
    ORG_NOUNS,
    PERSON_PRONOUNS,
    RELATIVE_PRONOUNS,
    VOICE_NOUNS,
    WORK_NOUNS,
)
from transforms.nlp.quotes.context import (
    SENTENCE_END,
    Context,
    is_abbreviation,
    paragraph_of,
    token_index_at,
    tokens_between,
)
from transforms.nlp.quotes.cues import is_cue, mention_span


@dataclass
class Speaker:
    speaker: str | None = None
    mention: str | None = None
    start: int | None = None
    end: int | None = None
    label: str | None = None
    cue: str | None = None
    from_cue: bool = False  # found through a cue, not inherited


def normalised(ctx: Context, spk: Speaker) -> Speaker:
    """An unnamed speaker as one value across quotes and articles: its words in lower case but
    for proper nouns ("The report" and "the report" are one speaker), labelled GROUP_LABEL when
    it names a group of people ("Police", "local officials"). Named speakers are unchanged."""
    if (
        spk.speaker is None
        or spk.label is not None
        or spk.start is None
        or ctx.text[spk.start : spk.start + len(spk.speaker)] != spk.speaker
    ):
        return spk
    words = ctx.doc.char_span(spk.start, spk.start + len(spk.speaker), alignment_mode="expand")
    if words is None or not len(words):
        return spk
    written = "".join((t.lower_ if is_common_word(ctx, t) else t.text) + t.whitespace_ for t in words).strip()
    head = mention_head(words)
    group = head.lower_ in GROUP_NOUNS or (
        head.pos_ == "NOUN"
        and "Plur" in head.morph.get("Number")
        and head.lemma_.lower() not in DOCUMENT_NOUNS | WORK_NOUNS
    )
    return Speaker(written, spk.mention, spk.start, spk.end, GROUP_LABEL if group else None, spk.cue, spk.from_cue)


def is_common_word(ctx: Context, tok) -> bool:
    """A word whose capital comes only from its place in the sentence ("The", "Police",
    "Officials"), not a name the tagger missed ("Ferrante")."""
    if tok.pos_ == "PROPN" or tok.i in ctx.entity_of_token:
        return False
    if tok.pos_ in ("DET", "PRON", "NUM", "ADJ", "ADP", "CCONJ", "ADV"):
        return True
    return tok.pos_ == "NOUN" and (
        tok.lower_ in GROUP_NOUNS | VOICE_NOUNS | ORG_NOUNS or "Plur" in tok.morph.get("Number")
    )


def speaker_from_entity(ent: dict, mention, cue: str | None) -> Speaker:
    return Speaker(ent["canonical"], mention.text, mention.start_char, mention.end_char, ent["label"], cue)


def entities_in(ctx: Context, span) -> list:
    seen, out = set(), []
    for t in span:
        ent = ctx.entity_of_token.get(t.i)
        if ent is not None and id(ent) not in seen:
            seen.add(id(ent))
            out.append(ent)
    return out


def resolve_mention(ctx: Context, mention, cue: str | None, before_char: int) -> Speaker:
    """Who the words of a mention are: an entity in it, the organisation behind a voice noun,
    or, for pronouns and role nouns, the compatible entity named before."""
    if mention is None or not len(mention):
        return Speaker(cue=cue)
    doc, head = ctx.doc, mention_head(mention)
    written = Speaker(mention.text, mention.text, mention.start_char, mention.end_char, None, cue)
    word = head.lower_
    if len(mention) == 1 and word in RELATIVE_PRONOUNS and head.head.dep_ == "relcl":
        antecedent = head.head.head  # "Joe Biden, who said ..."
        found = resolve_mention(ctx, doc[antecedent.i : antecedent.i + 1], cue, before_char)
        return Speaker(found.speaker, mention.text, mention.start_char, mention.end_char, found.label, cue)
    if len(mention) == 1 and (word in PERSON_PRONOUNS or word in GROUP_PRONOUNS):
        person = resolve_pronoun(ctx, word, mention.start_char)
        return Speaker(
            person["canonical"] if person else None,
            mention.text,
            mention.start_char,
            mention.end_char,
            person["label"] if person else None,
            cue,
        )
    ents = [e for e in entities_in(ctx, mention) if e["label"] in ("PERSON", "ORG", "GPE", "NORP", "FAC")]
    head_ent = ctx.entity_of_token.get(head.i)
    lemma = head.lower_ if head.lower_ in VOICE_NOUNS | ORG_NOUNS else head.lemma_.lower()
    if head_ent is not None and head_ent["label"] in ("PERSON", "ORG", "GPE", "NORP", "FAC"):
        return speaker_from_entity(head_ent, mention, cue)
    for child in head.children:  # apposition: "Kremlin spokesman Dmitry Peskov"
        ent = ctx.entity_of_token.get(child.i)
        if child.dep_ in ("appos", "compound", "nmod") and ent is not None and is_person(ctx, ent):
            return speaker_from_entity(ent, mention, cue)
    for tok in mention:  # "X's co-founder and chief executive, Jane Doe"
        ent = ctx.entity_of_token.get(tok.i)
        if tok.dep_ == "appos" and ent is not None and is_person(ctx, ent):
            return speaker_from_entity(ent, mention, cue)
    people = [e for e in ents if is_person(ctx, e) and not is_possessor(ctx, e)]
    if lemma in VOICE_NOUNS:
        owner = voice_owner(ctx, head, mention)
        if owner is not None:
            return Speaker(owner.speaker, mention.text, mention.start_char, mention.end_char, owner.label, cue)
    if people and lemma not in VOICE_NOUNS:
        return speaker_from_entity(people[0], mention, cue)
    if lemma in DOCUMENT_NOUNS:
        owner = document_author(ctx, head, mention.start_char)
        if owner is not None:
            return Speaker(owner.speaker, mention.text, mention.start_char, mention.end_char, owner.label, cue)
        return written
    if is_bare_noun_phrase(mention):
        if lemma in ORG_NOUNS:
            org = resolve_org_noun(ctx, lemma, mention.start_char)
            if org is not None:
                return Speaker(org["canonical"], mention.text, mention.start_char, mention.end_char, org["label"], cue)
        elif head.pos_ == "NOUN":
            person = resolve_role_noun(ctx, lemma, mention.start_char)
            if person is not None:
                return Speaker(
                    person["canonical"], mention.text, mention.start_char, mention.end_char, person["label"], cue
                )
    named = [e for e in ents if e["label"] in ("PERSON", "ORG") and not is_possessor(ctx, e)]
    if named:  # not "Russian" in "the Russian embassy"
        return speaker_from_entity(named[0], mention, cue)
    if head.pos_ == "PROPN" or head.is_title:  # a name the tagger missed here
        ent = entity_named(ctx, name_words_at(ctx.doc, head))
        if ent is not None:
            return speaker_from_entity(ent, mention, cue)
    return written


def name_words_at(doc, head) -> str:
    """The proper-noun run ending at `head` ("Maya Okonjo" from "state Senator Maya Okonjo")."""
    i = head.i
    while i > 0 and doc[i - 1].pos_ == "PROPN" and doc[i - 1].head.i == head.i:
        i -= 1
    return doc[i : head.i + 1].text


def mention_head(mention):
    """The mention's main word; a bad parse can make a determiner or auxiliary its root."""
    root = mention.root
    if root.pos_ in ("DET", "ADP", "PUNCT", "ADV", "AUX", "PART") or root.is_punct:
        words = [t for t in mention if t.is_alpha]
        return words[-1] if words else root
    return root


def entity_named(ctx: Context, text: str) -> dict | None:
    """An entity of the article whose canonical name ends with (or is) these words, for names
    the tagger did not mark at this mention ("Adeyemi" -> "Jonah Adeyemi")."""
    words = [w for w in re.findall(r"[^\W\d_][\w\-]*", text) if w.lower() not in HONORIFICS | LEADING_ARTICLES]
    if not words:
        return None
    key = " ".join(words).lower()
    best = None
    for ent in ctx.entity_of_token.values():
        if ent["label"] not in NAME_LABELS:
            continue
        canonical = ent["canonical"].lower()
        if canonical == key or canonical.endswith(" " + key) or canonical.startswith(key + " "):
            if best is None or is_person(ctx, ent):
                best = ent
    return best


def is_person(ctx: Context, ent: dict) -> bool:
    """Tagged PERSON, or referred to with he/she/Mr/Ms in this article (the small model
    often tags surnames GPE or ORG)."""
    return ent["label"] == "PERSON" or ent["canonical"] in ctx.gender


def is_possessor(ctx: Context, ent: dict) -> bool:
    """'Lumen Grid' in "Lumen Grid's chief executive": the owner, not the speaker."""
    return bool(re.match(r"\s*['’](?:s\b|(?![\w]))", ctx.text[ent["end"] : ent["end"] + 3])) or bool(
        re.search(r"s['’]$", ent["text"])
    )  # "James’ brother"


def is_bare_noun_phrase(mention) -> bool:
    """'the judge', 'the company', 'the festival's director' - nothing that names who."""
    return (
        all(
            t.dep_ in ("det", "poss", "amod", "compound", "case") or t.i == mention.root.i
            for t in mention
            if not t.is_punct
        )
        and len(mention) <= 4
    )


def voice_owner(ctx: Context, head, mention) -> Speaker | None:
    """X in "a spokesperson for X", "a report by X", "X's statement", "the company's statement"."""
    for child in head.children:
        target = None
        if child.dep_ == "prep" and child.lower_ in ("for", "by", "from", "of", "at"):
            target = next((g for g in child.children if g.dep_ == "pobj"), None)
        elif child.dep_ == "poss":
            target = child
        elif child.dep_ == "acl":  # "a report published by X"
            for g in child.children:
                if g.dep_ == "agent" or (g.dep_ == "prep" and g.lower_ == "by"):
                    target = next((h for h in g.children if h.dep_ == "pobj"), None)
        if target is not None:
            span = ctx.doc[target.left_edge.i : target.right_edge.i + 1]
            found = resolve_mention(ctx, span, None, span.start_char)
            if found.speaker:
                return found
    return None


def document_author(ctx: Context, head, before_char: int) -> Speaker | None:
    """Who issued "the report"/"the ruling"/"the statement": the organisation quoted just
    before in the same paragraph, else the author given at the noun's previous mention ("a
    report published by X"), else the organisation that is subject of the sentence before."""
    paragraph = paragraph_of(ctx, before_char)
    for k, spk in zip(reversed(ctx.kept), reversed(ctx.speakers)):
        span = ctx.spans[k]
        if span.paragraph == paragraph and span.start < before_char and spk.speaker and spk.label != "PERSON":
            return spk
    lemma = head.lemma_.lower()
    for i in range(head.i - 1, -1, -1):
        tok = ctx.doc[i]
        if tok.lemma_.lower() == lemma and ctx.quote_of_token[i] < 0:
            owner = voice_owner(ctx, tok, ctx.doc[i : i + 1])
            if owner is not None:
                return owner
            break
    subject = previous_sentence_subject(ctx, before_char)
    if subject is not None and subject.label in ("ORG", "GPE", "NORP"):
        return subject
    return None


def mentions_before(ctx: Context, char: int, labels: Collection[str]):
    """Entity mentions outside quotes before `char`, nearest first; a proper noun the tagger
    missed counts as a mention of the entity it names ("Reardon went further")."""
    seen = set()
    start = token_index_at(ctx, char)
    for i in range((len(ctx.doc) if start is None else start) - 1, -1, -1):
        if ctx.quote_of_token[i] >= 0:
            continue
        ent = ctx.entity_of_token.get(i)
        if ent is None and ctx.doc[i].pos_ == "PROPN" and ctx.doc[i].is_title:
            ent = surname_index(ctx).get(ctx.doc[i].lower_)
        if ent is None or ent["end"] > char and ctx.entity_of_token.get(i) is ent:
            continue
        key = (ent["canonical"], ent["label"])
        if key in seen:
            continue
        seen.add(key)
        if ent["label"] in labels:
            yield i, ent


def surname_index(ctx: Context) -> dict:
    """Last word of each person's canonical name -> that person's entity (built once)."""
    if ctx.surnames is None:
        ctx.surnames = {}
        for ent in ctx.entity_of_token.values():
            if is_person(ctx, ent) and " " in ent["canonical"]:
                ctx.surnames.setdefault(ent["canonical"].split()[-1].lower(), ent)
    return ctx.surnames


def resolve_pronoun(ctx: Context, word: str, char: int) -> dict | None:
    """he/she -> the nearest person before with a compatible gender; it/they/we -> the
    nearest organisation (or person, for they/we) before."""
    if word in PERSON_PRONOUNS:
        want = "m" if word in MALE_WORDS else "f" if word in FEMALE_WORDS else None
        candidates = list(mentions_before(ctx, char, NAME_LABELS))
        compatible = [(i, e) for i, e in candidates if want is None or ctx.gender.get(e["canonical"]) in (None, want)]
        for _, ent in compatible:
            if is_person(ctx, ent):
                return ent
        for i, ent in compatible:  # a speaker the tagger did not call PERSON
            if ctx.doc[i].dep_ == "nsubj" and is_cue(ctx.doc[i].head) and ent["label"] not in ("GPE", "LOC"):
                return ent
        return None
    for _, ent in mentions_before(ctx, char, ("ORG", "PERSON", "GPE", "NORP")):
        if ent["label"] != "PERSON" or word in ("they", "we"):
            return ent
    return None


def resolve_org_noun(ctx: Context, noun: str, char: int) -> dict | None:
    """'the council' -> the last organisation whose name has the noun ("District Council"),
    else the last organisation that was the subject of a sentence, else the last one named."""
    orgs = list(mentions_before(ctx, char, ("ORG",)))
    for _, ent in orgs:
        if noun in ent["canonical"].lower().split():
            return ent
    subject = last_organisation_subject(ctx, char)
    if subject is not None:
        return subject
    return orgs[0][1] if orgs else None


def last_organisation_subject(ctx: Context, char: int) -> dict | None:
    """The nearest subject before `char` that names an organisation, recognised by the
    tagger there or anywhere else in the article ("Quillon, the maker of ..., said")."""
    org_by_name: dict[str, dict] = {}
    for ent in ctx.entity_of_token.values():
        if ent["label"] == "ORG":
            org_by_name.setdefault(ent["text"], ent)
            org_by_name.setdefault(ent["canonical"], ent)
    end = token_index_at(ctx, char) or len(ctx.doc)
    for i in range(min(end, len(ctx.doc)) - 1, -1, -1):
        tok = ctx.doc[i]
        if ctx.quote_of_token[i] >= 0 or tok.dep_ not in ("nsubj", "nsubjpass") or tok.pos_ != "PROPN":
            continue
        ent = ctx.entity_of_token.get(i)
        if ent is None or ent["label"] != "ORG":
            name = ctx.doc[tok.left_edge.i : i + 1].text
            ent = org_by_name.get(name) or org_by_name.get(tok.text)
        if ent is not None and ent["label"] == "ORG":
            return ent
    return None


def resolve_role_noun(ctx: Context, noun: str, char: int) -> dict | None:
    """'the judge' -> the last person introduced with that word ("Judge Abigail Thornbury",
    "the interior minister, Stefan Albescu"), else the nearest person before."""
    people = [(i, e) for i, e in mentions_before(ctx, char, NAME_LABELS) if is_person(ctx, e)]
    for i, ent in people:
        if noun in descriptor_words(ctx, i) or noun in role_words(ctx).get(ent["canonical"], ()):
            return ent
    want = "f" if noun in FEMALE_WORDS else "m" if noun in MALE_WORDS else None
    for _, ent in people:
        if want is None or ctx.gender.get(ent["canonical"]) in (None, want):
            return ent
    return None


def role_words(ctx: Context) -> dict:
    """Canonical name -> the words describing the person at any of its mentions ("Mayor Lucia
    Ferrante" early on makes a later "the mayor" hers), built once."""
    if ctx.roles is None:
        ctx.roles = {}
        for i, ent in ctx.entity_of_token.items():
            if ctx.entity_of_token.get(i - 1) is not ent and ent["label"] == "PERSON":
                words = ctx.roles.setdefault(ent["canonical"], set())
                words.update(w.lower().rstrip(".") for w in ent["text"].split())
                words.update(descriptor_words(ctx, i))
    return ctx.roles


def descriptor_words(ctx: Context, i: int) -> set:
    """Lower-cased words describing the person mention at token i: the title words right
    before it and its apposition ("Judge", "the city's mayor")."""
    doc, words = ctx.doc, set()
    k = i - 1
    while k >= 0 and ctx.entity_of_token.get(k) is ctx.entity_of_token.get(i):
        k -= 1
    stop = max(-1, k - 5)
    while k > stop and not doc[k].is_punct and not doc[k].is_space:
        words.add(doc[k].lemma_.lower())
        k -= 1
    root = doc[i]
    for tok in (root, root.head):
        for child in tok.children:
            if child.dep_ == "appos":
                words.update(t.lemma_.lower() for t in child.subtree)
        if tok.dep_ == "appos":
            words.update(t.lemma_.lower() for t in tok.head.subtree if abs(t.i - i) < 12)
    return words


def previous_sentence_subject(ctx: Context, char: int) -> Speaker | None:
    """The subject of the sentence just before `char` (in this paragraph or the one before),
    the way a reader carries the speaker into an unattributed quote."""
    para = paragraph_of(ctx, char)
    lo = ctx.paragraphs[max(0, para - 1)][0]
    bounds = (
        [lo]
        + [m.end() for m in SENTENCE_END.finditer(ctx.text, lo, char) if not is_abbreviation(ctx.text, m.start())]
        + [char]
    )
    toks, sentence_lo = [], lo
    for a, b in reversed(list(zip(bounds, bounds[1:]))):
        toks = tokens_between(ctx, a, b)
        if any(t.is_alpha for t in toks):
            sentence_lo = a
            break
    subjects = [t for t in toks if t.dep_ in ("nsubj", "nsubjpass") and ctx.quote_of_token[t.head.i] < 0]
    subjects.sort(key=lambda t: (depth(t), t.i))
    for subj in subjects:
        found = resolve_mention(ctx, mention_span(ctx, subj, sentence_lo, char), None, subj.idx)
        if (
            found.label in NAME_LABELS
            or (found.speaker and subj.lower_ in PERSON_PRONOUNS)
            or (found.speaker and subj.pos_ == "PROPN")
        ):
            found.cue = None
            return found
    for t in reversed(toks):
        ent = ctx.entity_of_token.get(t.i)
        if ent is not None and is_person(ctx, ent):
            return Speaker(ent["canonical"], ent["text"], ent["start"], ent["end"], ent["label"], None)
    return None


def depth(tok) -> int:
    d = 0
    while tok.head.i != tok.i and d < 50:
        tok, d = tok.head, d + 1
    return d


def infer_gender(doc, entity_of_token: dict, quote_of_token: list) -> dict:
    """Gender of each person, voted by honorifics and by he/she/his/her that follow a mention
    of them in the same sentence (outside quotes). With several people named before the
    pronoun, the vote goes to the last one that is a subject ("Whitcombe said the plan of
    Speaker Grell ... that she described": she is Whitcombe), and to nobody when none is. A name
    tagged other than PERSON takes part only as a subject, so "Adeyemi turns his attention" counts."""
    votes: dict = {}
    named: list[tuple[dict, bool]] = []  # (entity, is subject) in this sentence
    last_at = -100
    for tok in doc:
        if quote_of_token[tok.i] >= 0:
            continue
        if tok.text in (".", "!", "?") or (tok.is_space and "\n" in tok.text):
            named = []  # votes stay within one sentence
            continue
        ent = entity_of_token.get(tok.i)
        if ent is not None and ent["label"] in NAME_LABELS:
            first_token = ent is not entity_of_token.get(tok.i - 1) if tok.i else True
            if first_token and tok.i:
                prev = doc[tok.i - 1].lower_.rstrip(".")
                if prev in MALE_WORDS or prev in FEMALE_WORDS:
                    vote(votes, ent["canonical"], "m" if prev in MALE_WORDS else "f", 3)
            subject = tok.dep_ in ("nsubj", "nsubjpass")
            if ent["label"] == "PERSON" or subject:
                named.append((ent, subject))
                last_at = tok.i
            continue
        low = tok.lower_
        if not named or tok.dep_ not in ("nsubj", "nsubjpass", "poss"):
            continue
        last: dict | None = named[-1][0]
        if len({e["canonical"] for e, _ in named}) > 1:
            last = next((e for e, subject in reversed(named) if subject), None)
        reach = 40 if last is not None and last["label"] == "PERSON" else 15
        if last is not None and tok.i - last_at < reach:
            if low in ("he", "his", "il"):
                vote(votes, last["canonical"], "m", 1)
            elif low in ("she", "her", "elle"):
                vote(votes, last["canonical"], "f", 1)
    return {name: ("m" if v["m"] > v["f"] else "f") for name, v in votes.items() if v["m"] != v["f"]}


def vote(votes: dict, name: str, gender: str, weight: int):
    votes.setdefault(name, {"m": 0, "f": 0})[gender] += weight
