"""Marks -> spans: quotation marks paired on character offsets, per paragraph, by type
(double vs single), with the article's main type chosen by which one pairs up at top level.
Apostrophes (it's, players' union), inches (5'11") and stray or odd marks never open a quote.
A paragraph that opens a quote without closing it, followed by a paragraph that opens with a
mark, is the first part of a multi-paragraph quote. Needs no spaCy: text in, spans out."""

import re
from dataclasses import dataclass

# Double marks, and single marks (the main type of British articles, nested in others): English
# “…” ‘…’ and straight marks, German „…“ ‚…‘ (the low mark opens; “ and ‘ then close, by
# position), French « … » ‹ … › (with the space, no-break space or thin space French puts inside),
# Japanese and Chinese 「…」 with 『…』 nested.
DOUBLE_MARKS = {
    "“": "open",
    "„": "open",
    "«": "open",
    "「": "open",
    "”": "close",
    "»": "close",
    "」": "close",
    '"': "either",
}
SINGLE_MARKS = {
    "‘": "open",
    "‚": "open",
    "‹": "open",
    "『": "open",
    "’": "close",
    "›": "close",
    "』": "close",
    "'": "either",
}
# Marks that are never apostrophes or inches: the glyph alone says open or close.
BRACKET_MARKS = frozenset("«»‹›「」『』")
LINE_BREAK = re.compile(r"[ \t\r\f\v]*\n\s*")
PARAGRAPH_END_CHARS = ".!?:\"“”’'»」)]…。"
MEASUREMENT = re.compile(r"\d\s*['’′]\s*\d{1,2}(?:\.\d+)?\s*[\"”″]")
WORD_RE = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")


@dataclass
class Span:
    """A quoted stretch of text: marks at `open_at`/`close_at` (close_at None when it runs to
    the paragraph end as the first part of a multi-paragraph quote)."""

    start: int
    end: int
    open_at: int
    close_at: int | None
    paragraph: int
    continues: bool = False  # runs on into the next paragraph
    continuation: bool = False  # opens the paragraph after an unclosed quote


def ends_paragraph_line(line: str) -> bool:
    """A line that ends the way a paragraph ends: sentence punctuation or a closing mark."""
    line = line.rstrip()
    return bool(line) and line[-1] in PARAGRAPH_END_CHARS


def paragraph_ranges(text: str) -> list:
    """Paragraphs: split at blank lines, and at single line breaks too when the text puts one
    paragraph per line (most lines end a sentence). In hard-wrapped text (most line breaks fall
    mid-sentence) a single line break ends a paragraph only after a short line that ends a
    sentence and before a capital or an opening mark."""
    breaks = []  # (start, end, blank)
    for m in LINE_BREAK.finditer(text):
        breaks.append((m.start(), m.end(), m.group(0).count("\n") > 1))
    single = [(a, b) for a, b, blank in breaks if not blank]
    cuts = [(a, b) for a, b, blank in breaks if blank]
    if single:
        line_starts = [0] + [b for _, b, _ in breaks]
        lines = [text[lo:a] for lo, (a, _, _) in zip(line_starts, breaks)]
        ends = {a: line for line, (a, _, _) in zip(lines, breaks)}
        wrapped = sum(1 for a, b in single if not ends_paragraph_line(ends[a]) or text[b : b + 1].islower()) * 2 > len(
            single
        )
        if not wrapped:
            cuts += single
        else:
            widths = sorted(len(line.rstrip()) for line in lines)
            width = widths[int(0.9 * (len(widths) - 1))] if widths else 0
            cuts += [
                (a, b)
                for a, b in single
                if ends_paragraph_line(ends[a])
                and len(ends[a].rstrip()) < 0.75 * width
                and (text[b : b + 1].isupper() or text[b : b + 1] in "\"“‘'«")
            ]
    ranges, start = [], 0
    for a, b in sorted(cuts):
        ranges.append((start, a))
        start = b
    ranges.append((start, len(text)))
    return [(s, e) for s, e in ranges if text[s:e].strip()]


def measurement_marks(text: str) -> set:
    """Positions of the marks in 5'11"-style measurements, which are never quote marks."""
    positions: set[int] = set()
    for m in MEASUREMENT.finditer(text):
        positions.update(i for i in range(m.start(), m.end()) if text[i] in "'’′\"”″")
    return positions


def mark_role(text: str, i: int, table: dict) -> str | None:
    """'open', 'close', 'weak_close' (maybe a plural possessive: players' union), or None
    (an apostrophe) for the mark at i, from the glyph and the characters around it."""
    before = text[i - 1] if i > 0 else " "
    after = text[i + 1] if i + 1 < len(text) else " "
    glyph = table[text[i]]
    if text[i] in BRACKET_MARKS:
        return glyph
    if before.isalnum() and after.isalnum():
        return None  # it's, developer’s, O'Neill
    opens_here = before.isspace() or before in "([{—–-/" or (before in "“‘\"'" and after.isalnum())
    closes_here = not before.isspace() and (after.isspace() or not after.isalnum())
    if table is SINGLE_MARKS and before.isalnum() and closes_here:
        if before.lower() == "s" and re.match(r"\s+[a-z0-9]", text[i + 1 : i + 3]):
            return "weak_close"  # players’ union, Jones’ car
    if glyph == "open" and closes_here and not opens_here:
        return "close"  # German „…“ ‚…‘, or a mistyped closer
    if glyph == "close" and opens_here and not closes_here:
        return "open" if not (table is SINGLE_MARKS and after.isdigit()) else None  # ’90s
    if glyph != "either":
        return glyph
    if opens_here and not closes_here:
        return "open"
    if closes_here and not opens_here:
        return "close"
    return "either"


def marks_in(text: str, lo: int, hi: int, table: dict, skip: set) -> list:
    """(position, role) of the marks of one type in text[lo:hi]."""
    out = []
    for i in range(lo, hi):
        if text[i] in table and i not in skip:
            role = mark_role(text, i, table)
            if role:
                out.append((i, role))
    return out


def pair_marks(marks: list, paragraph_end: int) -> tuple:
    """Outermost (open, close) pairs of one paragraph, and the unclosed opener if any."""
    pairs, depth, opener = [], 0, None
    for k, (pos, role) in enumerate(marks):
        if role == "weak_close":
            later_closer = any(r in ("close", "either") for _, r in marks[k + 1 :])
            if depth == 0 or later_closer:
                continue
            role = "close"
        if role == "either":
            role = "close" if depth else "open"
        if role == "open":
            if depth == 0:
                opener = pos
                depth = 1
            else:
                depth += 1 if depth < 2 else 0  # one level of same-type nesting at most
        elif depth:
            depth -= 1
            if depth == 0:
                pairs.append((opener, pos))
    return pairs, (opener if depth else None)


def starts_with_opener(text: str, lo: int, hi: int, table: dict) -> bool:
    stripped = len(text[lo:hi]) - len(text[lo:hi].lstrip())
    i = lo + stripped
    return i < hi and text[i] in table and mark_role(text, i, table) in ("open", "either")


def spans_of_type(text: str, paragraphs: list, table: dict, skip: set) -> list:
    """All top-level quote spans made of one type of mark."""
    spans, carried = [], False
    for p, (lo, hi) in enumerate(paragraphs):
        pairs, unclosed = pair_marks(marks_in(text, lo, hi, table, skip), hi)
        for k, (o, c) in enumerate(pairs):
            start, end = inner_bounds(text, o + 1, c)
            spans.append(Span(start, end, o, c, p, continuation=carried and k == 0 and o == first_char(text, lo)))
        carried = False
        if (
            unclosed is not None
            and p + 1 < len(paragraphs)
            and starts_with_opener(text, paragraphs[p + 1][0], paragraphs[p + 1][1], table)
        ):
            start, end = inner_bounds(text, unclosed + 1, hi)
            spans.append(
                Span(
                    start,
                    end,
                    unclosed,
                    None,
                    p,
                    continues=True,
                    continuation=bool(spans)
                    and spans[-1].continues
                    and spans[-1].paragraph == p - 1
                    and unclosed == first_char(text, lo),
                )
            )
            carried = True
    spans.sort(key=lambda s: s.start)
    return spans


def inner_bounds(text: str, lo: int, hi: int) -> tuple:
    """text[lo:hi] without the whitespace at its ends (French « … » keeps a space inside)."""
    inner = text[lo:hi]
    return lo + len(inner) - len(inner.lstrip()), lo + len(inner.rstrip())


def first_char(text: str, lo: int) -> int:
    return lo + len(text[lo:]) - len(text[lo:].lstrip())


def overlaps(span: Span, others: list) -> bool:
    lo, hi = span.open_at, span.end
    return any(o.open_at <= hi and lo <= o.end for o in others)


def find_quote_spans(text: str, paragraphs: list) -> list:
    """Top-level quote spans: the main mark type of the article, plus quotes in the other
    type that sit outside them (nested ones are part of their outer quote)."""
    skip = measurement_marks(text)
    double = spans_of_type(text, paragraphs, DOUBLE_MARKS, skip)
    single = spans_of_type(text, paragraphs, SINGLE_MARKS, skip)
    single_top = [s for s in single if not overlaps(s, double)]
    double_top = [s for s in double if not overlaps(s, single)]
    if len(single_top) > len(double_top):  # British style: ‘…’ outside, “…” inside
        main, other = single, double
    else:
        main, other = double, single
    spans = main + [s for s in other if not overlaps(s, main)]
    return sorted((s for s in spans if WORD_RE.search(text[s.start : s.end])), key=lambda s: s.start)
