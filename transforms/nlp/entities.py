"""Named entities of an article, with one canonical name and one label per entity.

spaCy tags each mention on its own, so one person shows up as "Joe Biden" (PERSON),
"Biden" (PERSON) and, now and then, "Biden" (ORG). Within one article we link the
short forms to the fullest form the article uses and let the mentions vote on the label.
"""

import re
from collections import Counter

from transforms.nlp.entity_keys import entity_key
from transforms.nlp.labels import common_label
from transforms.nlp.lexicon import (
    HONORIFICS,
    LEADING_ARTICLES,
    NAME_LABELS,
    ORG_NAME_WORDS,
    ORG_SUFFIXES,
    PERSON_TITLES,
    PLACE_SUFFIXES,
    ROLE_NOUNS,
    SPEECH_VERBS,
    TITLE_MODIFIERS,
)

ORG_ENDINGS = {(word,) for word in ORG_SUFFIXES}
PLACE_ENDINGS = {(word,) for word in PLACE_SUFFIXES}
PERSON_NAME_WORD = re.compile(r"^[A-Z][a-z]+(?:[-'’][A-Z]?[a-z]+)*\.?$|^[A-Z]\.$")
INNER_NICKNAME = re.compile(r"\s*[\"“”‘’'][^\"“”‘’']{1,30}[\"“”‘’']\s*")
STRAY_MARKS = re.compile(r"^[\"“”‘’'\s]+|[\"“”‘’'\s]+$")
POSSESSIVE_END = re.compile(r"(?:['’]s|s['’])$")
WORD = re.compile(r"[\w][\w.\-]*")
LEADING_THE = re.compile(r"^[Tt]he\s+")


def clean_name(text: str) -> str:
    """The mention without nickname in quotes, leading article, honorific or possessive."""
    text = INNER_NICKNAME.sub(" ", text)
    text = STRAY_MARKS.sub("", text)
    words = text.split()
    while words and words[0].lower().rstrip(".") in LEADING_ARTICLES | HONORIFICS:
        words = words[1:]
    if words:
        words[-1] = POSSESSIVE_END.sub(lambda m: "s" if m.group(0).startswith("s") else "", words[-1])
    return " ".join(words)


def title_length(words: list) -> int:
    """How many leading words are a title or role ("Mayor", "Sen.", "state Senator", "Foreign
    Minister", "Chief Executive"): the run of title words and modifiers, up to its last title."""
    cut = 0
    for i, word in enumerate(words):
        w = word.lower().rstrip(".").replace("’", "'")
        if w in PERSON_TITLES:
            cut = i + 1
        elif w not in TITLE_MODIFIERS and w not in HONORIFICS:
            break
    return cut


def strip_title(name: str) -> str:
    """A person's name without a leading title ("Councillor Ravi Mehta" -> "Ravi Mehta"). The
    title stays when nothing name-like would be left ("the Speaker", "President")."""
    words = name.split()
    cut = title_length(words)
    rest = words[cut:]
    while cut and len(rest) > 2 and rest[0] == "of":  # "Secretary of State X", "Chief of Staff X"
        rest = rest[2:]
    while rest and rest[0].lower().rstrip(".") in HONORIFICS:  # "Chancellor Dr Jane Doe"
        rest = rest[1:]
    if (
        cut
        and rest
        and all(w[:1].isupper() for w in rest)
        and not any(w.lower().rstrip(".") in ORG_NAME_WORDS for w in rest)
    ):
        return " ".join(rest)
    return name


def looks_like_person_name(name: str) -> bool:
    """2-3 capitalised words, none of them an organisation or place word ("Helena Marsh",
    not "Harlow Rail Union")."""
    words = name.split()
    return (
        2 <= len(words) <= 3
        and all(PERSON_NAME_WORD.match(w) for w in words)
        and not any(w.lower().rstrip(".") in ORG_NAME_WORDS for w in words)
    )


def name_key(text: str) -> tuple:
    """Lower-cased words of a cleaned name, the unit for matching short and full forms."""
    return tuple(w.lower().rstrip(".") for w in WORD.findall(text))


def mention(text: str, label: str, start: int, end: int) -> dict:
    return {"text": text[start:end], "label": label, "start": start, "end": end, "name": clean_name(text[start:end])}


def raw_mentions(doc, text: str) -> list[dict]:
    """The doc's entities as mentions; text is doc.text (spaCy builds it from every token on
    each access: the caller takes it once per document)."""
    mentions = [
        mention(text, ent.label_, ent.start_char, ent.end_char)
        for ent in doc.ents
        if ent.label_ not in NAME_LABELS or any(c.isupper() for c in ent.text)
    ]  # "lorry" tagged PERSON
    mentions = split_place_prefixes(text, join_nickname_splits(text, mentions))
    for m in mentions:
        if m["label"] in NAME_LABELS:
            bare = strip_title(m["name"])
            if bare != m["name"] and (is_person_label(m["label"]) or looks_like_person_name(bare)):
                m["titled"] = True  # a title before a name: a person
                m["name"] = bare
    return mentions


def split_place_prefixes(text: str, mentions: list) -> list:
    """A place of the article glued to a person or organisation ("the U.S. Anatoly Antonov" tagged
    ORG, "Russia’s Foreign Ministry" tagged GPE) becomes two mentions: the place (GPE) and the
    person (when the rest looks like a personal name) or organisation (when it ends in an
    organisation word after a possessive). Only places the article also tags alone count."""
    places = sorted({m["name"] for m in mentions if m["label"] == "GPE" and m["name"]}, key=len, reverse=True)
    out = []
    for m in mentions:
        parts = place_and_rest(text, m, places) if m["label"] in NAME_LABELS else None
        out.extend(parts or [m])
    return out


def place_and_rest(text: str, m: dict, places: list) -> list | None:
    body = m["text"]
    lead = len(body) - len(LEADING_THE.sub("", body))
    for place in places:
        if not body.startswith(place, lead) or len(place) == len(body) - lead:
            continue
        after = re.match(r"(?:['’]s)?\s+", body[lead + len(place) :])
        if not after:
            continue
        rest = body[lead + len(place) + after.end() :]
        possessive = after.group(0)[:1] in "'’"  # "Harlow Riders Union" is one name
        label = (
            "PERSON"
            if looks_like_person_name(rest)
            else "ORG"
            if possessive and rest.split()[-1].lower() in ORG_NAME_WORDS and rest[:1].isupper()
            else None
        )
        if label:
            start = m["start"] + lead
            rest_start = m["start"] + len(body) - len(rest)
            return [mention(text, "GPE", start, start + len(place)), mention(text, label, rest_start, m["end"])]
    return None


def is_quoted_word(text: str, mention: dict) -> bool:
    before = text[max(0, mention["start"] - 1) : mention["start"]]
    after = text[mention["end"] : mention["end"] + 1]
    return bool(before and after and before in "\"“‘'" and after in "\"”’'")


def join_nickname_splits(text: str, mentions: list) -> list:
    """The tagger splits `Thomas "Tommy" Reardon` around the nickname (sometimes tagging the
    nickname too); join the parts into one mention so "Reardon" later links to "Thomas Reardon"."""
    out: list[dict] = []
    for m in mentions:
        for back in (1, 2):
            if len(out) < back or (back == 2 and not is_quoted_word(text, out[-1])):
                continue
            joined = joined_name(text, out[-back], m)
            if joined is not None:
                del out[-back:]
                m = joined
                break
        out.append(m)
    return out


def joined_name(text: str, first: dict, last: dict) -> dict | None:
    """One mention from `first` "Nick" `last`, or None when they are not a name around a nickname."""
    if first["label"] not in NAME_LABELS or last["label"] not in NAME_LABELS:
        return None
    joined = text[first["start"] : last["end"]]
    gap = text[first["end"] : last["start"]]
    if (
        len(joined) >= 60
        or not re.search(r"[\"“”‘’']", joined[len(first["text"]) :])
        or re.search(r"[,.;:()\n]", gap)
        or len(clean_name(joined).split()) not in (2, 3)
    ):
        return None
    label = next((lab for lab in (first["label"], last["label"]) if is_person_label(lab)), first["label"])
    return {"text": joined, "label": label, "start": first["start"], "end": last["end"], "name": clean_name(joined)}


def is_short_form(short: tuple, full: tuple) -> bool:
    """`short` names the same thing as `full`: its words are a contiguous run of them
    ("Biden" in "Joe Biden", "Astronomical Union" in "Astronomical Union of Alder")."""
    if not short or len(short) >= len(full):
        return False
    n = len(short)
    # "Russia" in "Russia's Foreign Ministry" is the owner, not the same thing.
    return any(full[i : i + n] == short and full[i + n : i + n + 1] != ("s",) for i in range(len(full) - n + 1))


def link_to_full_forms(keys: list[tuple], labels_by_key: dict) -> dict:
    """Map every name key to the key of its fullest form. A short form joins a longer one
    when they share a label, or when it is the surname of a person ("Okonjo" tagged GPE)."""
    by_length = sorted(keys, key=len, reverse=True)
    full_of = {}
    for key in sorted(keys, key=len):
        candidates = [
            other
            for other in by_length
            if is_short_form(key, other)
            and (
                labels_by_key[key] & labels_by_key[other]
                or (any(map(is_person_label, labels_by_key[other])) and key == other[-1:])
            )
        ]
        full_of[key] = candidates[0] if candidates else key
    for key in keys:  # follow chains: "Biden" -> "Joe Biden" -> "President Joe Biden"
        seen = {key}
        while full_of[full_of[key]] != full_of[key] and full_of[key] not in seen:
            seen.add(full_of[key])
            full_of[key] = full_of[full_of[key]]
    return full_of


def majority_label(labels: list[str], preferred: str) -> str:
    """Most frequent label; ties go to the label of the fullest form."""
    counts = Counter(labels)
    best = max(counts.values())
    return preferred if counts[preferred] == best else counts.most_common(1)[0][0]


def quoted_tokens(doc) -> set:
    """Indices of tokens between double quotation marks (a cheap pass: straight marks toggle,
    curly marks open and close), so pronouns inside quotes are not taken as evidence."""
    inside, out = False, set()
    for tok in doc:
        t = tok.text
        if t in ("“", "«"):
            inside = True
        elif t in ("”", "»"):
            inside = False
        elif t == '"' or t == "''" or t == "``":
            inside = not inside
        elif inside:
            out.add(tok.i)
        if "\n\n" in tok.whitespace_ or (tok.is_space and "\n\n" in tok.text):
            inside = False  # quotes are paired within a paragraph
    return out


def person_evidence(doc, mention: dict, quoted: set, name_starts: set) -> tuple:
    """(strong, weak, against) evidence that a mention names a person, from its context:
    strong = a title before it, an apposition with a role noun ("Its director, Helena Marsh",
    "Helena Marsh, the director") or he/she as the next subject; weak = subject of a speech
    verb; against = it/its as the next subject or possessive, or "at X" / "the X"."""
    span = doc.char_span(mention["start"], mention["end"], alignment_mode="expand")
    if span is None or not len(span):
        return False, False, False
    root = span.root
    strong = bool(mention.get("titled"))
    if span.start > 0:
        before = doc[span.start - 1]
        if before.lower_ in ROLE_NOUNS and before.dep_ == "compound" and before.head.i in range(span.start, span.end):
            strong = True  # "director Helena Marsh"
        if before.lower_ == "the" or (before.lower_ == "at" and root.dep_ == "pobj"):
            return strong, False, not strong
    appositions = [c for c in root.children if c.dep_ == "appos" and c.i >= span.end]
    if root.dep_ == "appos":
        appositions.append(root.head)
    for noun in appositions:
        if noun.lemma_.lower() in ROLE_NOUNS or noun.lower_ in ROLE_NOUNS:
            strong = True
    weak = root.dep_ in ("nsubj", "nsubjpass") and root.head.lemma_.lower() in SPEECH_VERBS
    if root.dep_ == "appos" and root.head.dep_ == "nsubj" and root.head.head.lemma_.lower() in SPEECH_VERBS:
        weak = True
    against = False
    is_subject = root.dep_ in ("nsubj", "nsubjpass") or (
        root.dep_ == "appos" and root.head.dep_ in ("nsubj", "nsubjpass")
    )
    sent_end = root.sent.end
    limit = min(len(doc), span.end + 40)
    for i in range(span.end, limit):
        tok = doc[i]
        if i in name_starts:
            break  # another name comes first
        if i in quoted or tok.dep_ not in ("nsubj", "nsubjpass", "poss"):
            continue
        low = tok.lower_
        if low in ("he", "she", "his", "her"):
            strong = strong or (is_subject and (i < sent_end or tok.dep_ != "poss"))
            break
        if low in ("it", "its"):
            against = True
            break
        if i >= sent_end and tok.dep_ != "poss":
            break  # the next sentence has another subject
    return strong, weak, against


def promote_people(doc, groups: dict, person: str):
    """A group the tagger labelled ORG/GPE/NORP that looks like a personal name and is used
    like a person gets the label PERSON. Strong evidence is enough; a speech verb alone is
    enough only for ORG/NORP with no sign of an organisation (it/its, "at X", "the X")."""
    quoted, name_starts = None, None
    for members in groups.values():
        if members[0]["label"] not in ("ORG", "GPE", "NORP") or not looks_like_person_name(members[0]["canonical"]):
            continue
        if quoted is None:
            quoted = quoted_tokens(doc)
            name_starts = set()
            for ent in doc.ents:
                if ent.label_ in NAME_LABELS:
                    name_starts.add(ent.start)
        strong = weak = against = False
        surname = members[0]["canonical"].split()[-1]
        sites = members + [
            {"start": t.idx, "end": t.idx + len(t)}
            for t in doc  # "Hale said he ..."
            if t.text == surname and not t.ent_type_ and t.pos_ == "PROPN"
        ]
        for m in sites:
            s, w, a = person_evidence(doc, m, quoted, name_starts)
            strong, weak, against = strong or s, weak or w, against or a
        if strong or (weak and not against and members[0]["label"] != "GPE"):
            for m in members:
                m["label"] = person


def is_person_label(label: str) -> bool:
    """PERSON (English models) or PER (the other languages' models)."""
    return common_label(label) == "PERSON"


def person_label(doc, mentions: list) -> str:
    """The person label of the model that tagged this Doc: the one its mentions use, else
    PERSON for English and PER (WikiNER) for the other languages."""
    labels = {m["label"] for m in mentions}
    if "PERSON" in labels or "PER" in labels:
        return "PERSON" if "PERSON" in labels else "PER"
    return "PERSON" if doc.lang_ == "en" else "PER"


def extract_entities(doc, text: str | None = None) -> list[dict]:
    """Named entities of a spaCy Doc: dicts with keys text, label, start, end, canonical
    (start/end are character offsets into doc.text). Within the article, mentions of one entity
    share one `canonical` (the fullest form the article uses: "Biden" -> "Joe Biden") and one label
    (majority vote over the mentions, so "Trump" tagged ORG once among PERSON tags becomes PERSON).
    A name tagged ORG/GPE/NORP that is used like a person's becomes PERSON (`promote_people`), and
    a PERSON's canonical name leaves out a leading title ("Mayor Patricia Lindell" -> "Patricia
    Lindell"). `entity_key` is the cross-article key of the entity (transforms/nlp/entity_keys.py),
    null for kinds that are not names. An error propagates, so the NLP stage records it (`nlp` reject,
    `nlp_failures`). text: doc.text, when the caller has it already."""
    return canonical_entities(doc, doc.text if text is None else text)


def relabel_by_name_words(groups: dict, place_keys: set):
    """A group tagged PERSON whose name ends in an organisation word is an ORG ("Kessick Port
    Holdings", "Kestrel Space"); one that ends in a place word ("Carrick Bay") or starts with a
    place of the article ("Stanmoor North" where "Stanmoor" is a GPE) is a GPE."""
    for members in groups.values():
        if not is_person_label(members[0]["label"]):
            continue
        key = name_key(members[0]["canonical"])
        label = (
            "ORG"
            if key[-1:] in ORG_ENDINGS
            else "GPE"
            if key[-1:] in PLACE_ENDINGS or any(key[: len(p)] == p for p in place_keys if len(p) < len(key))
            else None
        )
        if label:
            for m in members:
                m["label"] = label


def lone_surnames(doc, groups: dict, mentions: list) -> list[dict]:
    """A person's surname standing alone after the article gave the full name, that the tagger
    left untagged ("Marchand saved two break points", "Penrose’s lawyer"): a mention of that
    person. Only a proper noun that is not part of a longer capitalised name."""
    by_surname: dict[str, list[tuple[int, dict]]] = {}
    for members in groups.values():
        words = members[0]["canonical"].split()
        if is_person_label(members[0]["label"]) and 2 <= len(words) <= 3:
            first = (
                min(m["start"] for m in members if len(m["name"].split()) >= 2)
                if any(len(m["name"].split()) >= 2 for m in members)
                else None
            )
            if first is not None:
                by_surname.setdefault(words[-1], []).append((first, members[0]))
    taken = [(m["start"], m["end"]) for m in mentions]
    found = []
    for tok in doc:
        people = by_surname.get(tok.text)
        if not people or len(people) > 1 or tok.pos_ != "PROPN" or tok.idx < people[0][0]:
            continue  # two people share the surname: whose is it?
        if any(a < tok.idx + len(tok) and tok.idx < b for a, b in taken) or in_longer_name(doc, tok):
            continue
        person = people[0][1]
        found.append(
            {
                "text": tok.text,
                "label": person["label"],
                "start": tok.idx,
                "end": tok.idx + len(tok),
                "canonical": person["canonical"],
            }
        )
    return found


def in_longer_name(doc, tok) -> bool:
    """The token touches another capitalised word ("Marsh Lane", "Okafor Road")."""
    neighbours = [doc[i] for i in (tok.i - 1, tok.i + 1) if 0 <= i < len(doc)]
    return any(
        n.text[:1].isupper()
        and n.is_alpha
        and not (n.i < tok.i and n.is_sent_start)
        and n.i != tok.i
        and not (n.i < tok.i and tok.is_sent_start)
        for n in neighbours
    )


def trim_title(m: dict):
    """A person's mention starts at the name: "Councillor Janet Moreau" -> "Janet Moreau",
    "Ms Ruiz" -> "Ruiz", "Secretary of State Antony Blinken" -> "Antony Blinken" (the title
    stays when nothing name-like would be left: "the Speaker")."""
    words = m["text"].split()
    while len(words) > 1 and words[0].lower().rstrip(".") in HONORIFICS | LEADING_ARTICLES:
        words = words[1:]
    name = strip_title(" ".join(words))
    if title_length(name.split()) == len(name.split()):
        return  # "the Speaker": nothing but a title
    if name != m["text"] and name[:1].isupper() and m["text"].endswith(name):
        m["start"] += len(m["text"]) - len(name)
        m["text"] = name


def trim_possessive(m: dict):
    """ "Norvale’s" -> "Norvale": the possessive ending is not part of the name."""
    ending = re.search(r"['’]s$", m["text"])
    if ending and len(m["text"]) > 2:
        m["end"] -= 2
        m["text"] = m["text"][:-2]


def canonical_entities(doc, text: str) -> list[dict]:
    mentions = raw_mentions(doc, text)
    named = [m for m in mentions if m["label"] in NAME_LABELS and name_key(m["name"])]
    labels_by_key: dict = {}
    for m in named:
        m["key"] = name_key(m["name"])
        labels_by_key.setdefault(m["key"], set()).add(m["label"])
    full_of = link_to_full_forms(list(labels_by_key), labels_by_key)
    groups: dict = {}
    for m in named:
        groups.setdefault(full_of[m["key"]], []).append(m)
    for full_key, members in groups.items():
        full_forms = [m for m in members if m["key"] == full_key]
        canonical = full_forms[0]["name"]
        label = majority_label([m["label"] for m in members], full_forms[0]["label"])
        for m in members:
            m["canonical"], m["label"] = canonical, label
    relabel_by_name_words(groups, {m["key"] for m in named if m["label"] == "GPE"})
    if doc.has_annotation("DEP"):  # person evidence reads the parse; without one labels stay as voted
        promote_people(doc, groups, person_label(doc, mentions))
    for members in groups.values():
        if is_person_label(members[0]["label"]):  # "Mayor Patricia Lindell" -> "Patricia Lindell"
            for m in members:
                m["canonical"] = strip_title(m["canonical"])
                trim_title(m)
    for m in named:
        trim_possessive(m)
    mentions = sorted(mentions + lone_surnames(doc, groups, mentions), key=lambda m: m["start"])
    rows = [
        {
            "text": m["text"],
            "label": m["label"],
            "start": m["start"],
            "end": m["end"],
            "canonical": m.get("canonical") or m["text"],
        }
        for m in mentions
    ]
    for row in rows:
        row["entity_key"] = entity_key(row["canonical"], row["label"]) if row["label"] in NAME_LABELS else None
    return rows
