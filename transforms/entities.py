"""Named entities of an article, with one canonical name and one label per entity.

spaCy tags each mention on its own, so one person shows up as "Joe Biden" (PERSON),
"Biden" (PERSON) and, now and then, "Biden" (ORG). Within one article we link the
short forms to the fullest form the article uses and let the mentions vote on the label.
"""
import re
from collections import Counter

# Labels that name something; numbers, dates and amounts keep their own text.
NAME_LABELS = frozenset({"PERSON", "ORG", "GPE", "NORP", "FAC", "LOC", "PRODUCT", "EVENT",
                         "WORK_OF_ART", "LAW", "LANGUAGE"})
# Words that decorate a name without being part of it.
HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "sir",
                        "dame", "lord", "lady", "rev", "fr", "st"})
LEADING_ARTICLES = frozenset({"the", "a", "an"})
INNER_NICKNAME = re.compile(r"\s*[\"“”‘’'][^\"“”‘’']{1,30}[\"“”‘’']\s*")
STRAY_MARKS = re.compile(r"^[\"“”‘’'\s]+|[\"“”‘’'\s]+$")
POSSESSIVE_END = re.compile(r"(?:['’]s|s['’])$")
WORD = re.compile(r"[\w][\w.\-]*")


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


def name_key(text: str) -> tuple:
    """Lower-cased words of a cleaned name, the unit for matching short and full forms."""
    return tuple(w.lower().rstrip(".") for w in WORD.findall(text))


def raw_mentions(doc) -> list[dict]:
    mentions = [{"text": ent.text, "label": ent.label_, "start": ent.start_char, "end": ent.end_char,
                 "name": clean_name(ent.text)} for ent in doc.ents]
    return join_nickname_splits(doc.text, mentions)


def is_quoted_word(text: str, mention: dict) -> bool:
    before = text[max(0, mention["start"] - 1):mention["start"]]
    after = text[mention["end"]:mention["end"] + 1]
    return bool(before and after and before in "\"“‘'" and after in "\"”’'")


def join_nickname_splits(text: str, mentions: list) -> list:
    """The tagger splits `Thomas "Tommy" Reardon` around the nickname (sometimes tagging the
    nickname too); join the parts into one mention so "Reardon" later links to "Thomas Reardon"."""
    out = []
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
    joined = text[first["start"]:last["end"]]
    gap = text[first["end"]:last["start"]]
    if len(joined) >= 60 or not re.search(r"[\"“”‘’']", joined[len(first["text"]):]) \
            or re.search(r"[,.;:()\n]", gap) or len(clean_name(joined).split()) not in (2, 3):
        return None
    label = "PERSON" if "PERSON" in (first["label"], last["label"]) else first["label"]
    return {"text": joined, "label": label, "start": first["start"], "end": last["end"],
            "name": clean_name(joined)}


def is_short_form(short: tuple, full: tuple) -> bool:
    """`short` names the same thing as `full`: its words are a contiguous run of them
    ("Biden" in "Joe Biden", "Astronomical Union" in "Astronomical Union of Alder")."""
    if not short or len(short) >= len(full):
        return False
    n = len(short)
    # "Russia" in "Russia's Foreign Ministry" is the owner, not the same thing.
    return any(full[i:i + n] == short and full[i + n:i + n + 1] != ("s",)
               for i in range(len(full) - n + 1))


def link_to_full_forms(keys: list[tuple], labels_by_key: dict) -> dict:
    """Map every name key to the key of its fullest form. A short form joins a longer one
    when they share a label, or when it is the surname of a person ("Okonjo" tagged GPE)."""
    by_length = sorted(keys, key=len, reverse=True)
    full_of = {}
    for key in sorted(keys, key=len):
        candidates = [
            other for other in by_length
            if is_short_form(key, other)
            and (labels_by_key[key] & labels_by_key[other]
                 or ("PERSON" in labels_by_key[other] and key == other[-1:]))]
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


def extract_entities(doc) -> list[dict]:
    """Named entities of a spaCy Doc: dicts with keys text, label, start, end, canonical
    (start/end are character offsets into doc.text). Within the article, mentions of one entity
    share one `canonical` (the fullest form the article uses: "Biden" -> "Joe Biden") and one label
    (majority vote over the mentions, so "Trump" tagged ORG once among PERSON tags becomes PERSON)."""
    mentions = raw_mentions(doc)
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
    return [{"text": m["text"], "label": m["label"], "start": m["start"], "end": m["end"],
             "canonical": m.get("canonical") or m["text"]} for m in mentions]
