"""Article languages: ISO 639-1 codes from the input's metadata, else detected from the text.

Detection uses py3langid (a maintained fork of langid.py): its model ships inside
the wheel (4.5 MB, nothing is downloaded), it needs only numpy, and its
probabilities are calibrated by text length, so a short text gets a low
confidence instead of a confident guess. A text is left undecided (null) when it
has fewer than MIN_LETTERS letters or the best language's probability is below
MIN_CONFIDENCE. Only the first DETECT_CHARS characters are read: the language of
a news article shows in its first paragraphs, and the cost stays bounded.
"""

import re

import apache_beam as beam

MIN_LETTERS = 20
MIN_CONFIDENCE = 0.5
DETECT_CHARS = 500
# Matches a text with at least MIN_LETTERS letters ([^\W\d_]), stopping at the last one
# needed instead of listing every letter of the sample.
_ENOUGH_LETTERS = re.compile(rf"(?:[\W\d_]*[^\W\d_]){{{MIN_LETTERS}}}")


def normalise_language(value) -> str | None:
    """A language as inputs give it ('en-US', 'fr_FR', 'FR', 'fre', 'French', 'français')
    -> its ISO 639-1 code; None when it names no language that has one."""
    import langcodes  # imported on use: only inputs that name a language need it

    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    try:
        language = langcodes.Language.get(langcodes.standardize_tag(value))
    except (ValueError, LookupError):
        try:
            language = langcodes.find(value)  # a language's name, in English or in itself
        except LookupError:
            return None
    code = language.language
    return code if code and len(code) == 2 and language.is_valid() else None


def load_identifier():
    """py3langid's identifier with probabilities (loads its model: about 0.6 s and 80 MB)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str, identifier) -> str | None:
    """The ISO 639-1 code of text's language, or None when it is too short to tell
    (MIN_LETTERS), the detector is unsure (MIN_CONFIDENCE), or the language has no
    two-letter code."""
    sample = (text or "")[:DETECT_CHARS]
    if not _ENOUGH_LETTERS.match(sample):
        return None
    code, confidence = identifier.classify(sample)
    return code if confidence >= MIN_CONFIDENCE and len(code) == 2 else None


def article_language(article: dict, identifier) -> str | None:
    """The language the input gave (normalised), else the one detected from title and text."""
    given = normalise_language(article.get("language"))
    if given:
        return given
    return detect_language("\n".join(filter(None, (article.get("title"), article.get("text")))), identifier)


class DetectLanguageFn(beam.DoFn):
    """Articles -> the same articles with `language` set (article_language)."""

    def setup(self):
        self.identifier = load_identifier()

    def process(self, article):
        yield {**article, "language": article_language(article, self.identifier)}


class DetectLanguages(beam.PTransform):
    """Articles (rows of the articles table) -> with their language."""

    def expand(self, articles):
        return articles | "Detect" >> beam.ParDo(DetectLanguageFn())
