"""One key per real-world entity across the corpus: `entities.entity_key`, `quotes.speaker_key`.

A key is a function of one mention's canonical name and label only, so it never changes
meaning as data arrives: `person:donald trump`, `org:federal reserve`, `loc:paris`. Within an
article the canonical name is already the fullest form ("Trump" -> "Donald Trump" when the
article names him in full), so most mentions meet across articles by their key alone.

An article that only says "Trump" gives `person:trump`. Joining it to `person:donald trump` needs
the rest of the corpus, so it is not in the key: the DuckDB view `entity_aliases`
(schemas/duckdb_views.py) maps a one-word person key to the one full name ending in that word,
computed over the committed data at query time, and only while exactly one such name exists
(`person:clinton` joins neither Bill nor Hillary Clinton; `Donald Trump Jr.` counts as another
Trump). Precision over recall: an alias appears or disappears as data arrives, a key never moves.
"""

import re
import unicodedata

from transforms.nlp.labels import common_label

# Suffixes that make another person: "Donald Trump Jr." is not "Donald Trump".
NAME_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})
KEY_WORD = re.compile(r"[^\W_]+")


def folded_words(name: str) -> list[str]:
    """Case-folded words of a name without accents or punctuation ("Zelenskyy's" is never a
    canonical: entities strips possessives)."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return KEY_WORD.findall(plain.casefold())


def entity_key(canonical: str | None, label: str | None) -> str | None:
    """`kind:words` for a named entity (kind: the common label in lower case, so PERSON and
    the French PER meet); None for kinds that are not names (dates, amounts) or no name."""
    kind = common_label(label)
    words = folded_words(canonical or "")
    if kind is None or not words:
        return None
    return f"{kind.lower()}:{' '.join(words)}"
