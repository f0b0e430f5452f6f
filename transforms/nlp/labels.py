"""Entity labels across languages: each spaCy model keeps its own scheme in
`entities.label` (English: OntoNotes, PERSON/GPE/NORP/...; French, German,
Spanish, ...: WikiNER, PER/LOC/ORG/MISC), and `entities.label_common` maps it to
one set that every language shares, so one query covers all languages.

The one place the mapping lives (schemas/tables.py documents it from here).
"""

# model label -> common label; a label missing here (DATE, MONEY, CARDINAL, ...:
# kinds that only the English model tags) has no common label (null).
COMMON_LABELS = {
    "PERSON": "PERSON",
    "PER": "PERSON",
    "ORG": "ORG",
    "GPE": "LOC",
    "LOC": "LOC",
    "FAC": "LOC",
    "NORP": "MISC",
    "EVENT": "MISC",
    "WORK_OF_ART": "MISC",
    "LAW": "MISC",
    "PRODUCT": "MISC",
    "LANGUAGE": "MISC",
    "MISC": "MISC",
}


def common_label(label: str | None) -> str | None:
    return None if label is None else COMMON_LABELS.get(label)


def mapping_doc() -> str:
    """The mapping in words, for the table docs: 'PERSON, PER -> PERSON; ...'."""
    by_common: dict[str, list[str]] = {}
    for label, common in COMMON_LABELS.items():
        by_common.setdefault(common, []).append(label)
    return "; ".join(f"{', '.join(labels)} -> {common}" for common, labels in by_common.items())
