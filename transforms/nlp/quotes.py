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
"""
import bisect
import re
from dataclasses import dataclass, field

# ---------------------------------------------------------------- lexicons (constants)

# Lemmas of verbs that introduce or attribute speech or writing.
CUE_LEMMAS = frozenset("""
say tell add state claim declare announce explain insist argue warn call describe urge note
write reply respond answer ask acknowledge admit concede confirm deny suggest predict promise
vow pledge complain accuse allege contend maintain assert stress emphasise emphasize recall
report remark comment observe quip joke boast agree testify tweet post conclude find reveal
caution criticise criticize praise label term characterise characterize recount counter retort
interject exclaim shout cry whisper mutter plead demand instruct rule insinuate lament
question dismiss decry condemn blast slam hail tout concur disagree brand
""".split())
# Verbs that are cues only with a particle ("shot back", "pointed out").
PARTICLE_CUES = frozenset({("shoot", "back"), ("fire", "back"), ("hit", "back"), ("point", "out")})
IRREGULAR_FORMS = {"shot": "shoot", "fired": "fire", "hits": "hit", "pointed": "point"}
# Naming verbs that are cues only with an active subject ("she called it 'X'", not "a film called 'X'").
NAMING_LEMMAS = frozenset({"call", "name", "term", "label", "brand", "dub"})
# Audiences that belong to the cue ("told reporters").
AUDIENCE_WORDS = frozenset({"reporters", "journalists", "the court", "the press", "the media",
                            "analysts", "investors", "parliament", "the committee", "the jury",
                            "lawmakers", "legislators", "the crowd", "supporters", "the bbc"})
# Phrases right before a quote that make it a name or a scare quote, not speech.
NAMING_PHRASES = ("so-called", "so called", "known as", "dubbed", "nicknamed", "titled",
                  "entitled", "the word", "the term", "the phrase", "the slogan", "code",
                  "hashtag", "headlined", "branded as", "billed as", "marketed as")
# Nouns that make a quoted title ("the podcast 'Load Balancing'").
WORK_NOUNS = frozenset({"book", "film", "movie", "series", "show", "podcast", "documentary",
                        "song", "album", "novel", "play", "programme", "program", "petition",
                        "campaign", "report", "paper", "study", "article", "column", "exhibition",
                        "title", "drama", "opera", "musical", "poem", "magazine", "newspaper",
                        "headline", "essay", "editorial", "op-ed", "episode", "chapter", "slogan",
                        "motto", "mantra", "hashtag", "banner", "caption", "nickname", "album",
                        "exhibit", "app", "brand", "label", "logo", "tagline",
                        "headlines", "titles", "slogans", "chant", "refrain", "sign", "placard"})

HONORIFIC_WORDS = frozenset({"mr", "mrs", "ms", "miss", "dr", "prof", "sir", "dame", "the"})
NAME_LABELS = frozenset({"PERSON", "ORG", "GPE", "NORP", "FAC", "LOC", "PRODUCT", "EVENT",
                         "WORK_OF_ART", "LAW"})
PERSON_PRONOUNS = frozenset({"he", "she", "him", "her", "i", "me"})
GROUP_PRONOUNS = frozenset({"it", "they", "we", "them", "us"})
RELATIVE_PRONOUNS = frozenset({"who", "which", "that", "whom"})
MALE_WORDS = frozenset({"he", "him", "his", "himself", "mr", "sir", "lord", "spokesman",
                        "chairman", "congressman", "businessman", "father", "son", "husband",
                        "brother", "king", "prince"})
FEMALE_WORDS = frozenset({"she", "her", "hers", "herself", "ms", "mrs", "miss", "dame", "lady",
                          "spokeswoman", "chairwoman", "congresswoman", "businesswoman",
                          "mother", "daughter", "wife", "sister", "queen", "princess"})
# Nouns that stand for an organisation's voice: "a spokesperson for X", "a report by X".
VOICE_NOUNS = frozenset({"spokesperson", "spokesman", "spokeswoman", "representative",
                         "statement", "report", "ruling", "judgment", "judgement", "decision",
                         "study", "paper", "letter", "filing", "release", "post", "website",
                         "memo", "document", "review", "audit", "survey", "analysis",
                         "announcement", "verdict", "opinion", "order", "spokespeople"})
DOCUMENT_NOUNS = VOICE_NOUNS - {"spokesperson", "spokesman", "spokeswoman", "representative",
                                "spokespeople"}
ORG_NOUNS = frozenset("""
company firm group agency council ministry department government administration authority
commission committee court union federation association organisation organization institute
university bank board party team club festival embassy office airline carrier utility
regulator police army military charity operator school hospital network broadcaster
newspaper daily startup maker manufacturer retailer insurer lender foundation trust
corporation business service services bureau parliament congress senate league society
museum council's agency's
""".split())
TITLE_SMALL_WORDS = frozenset({"of", "the", "a", "an", "and", "in", "on", "at", "for", "to",
                               "by", "with", "from", "or", "de", "la", "du"})
ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "jr", "sr", "gov", "sen", "rep", "gen",
                           "col", "lt", "capt", "sgt", "prof", "no", "inc", "co", "corp", "ltd",
                           "vs", "v", "u.s", "u.k", "d.c", "e.g", "i.e", "mt", "ft", "jan", "feb",
                           "aug", "sept", "oct", "nov", "dec", "rev", "fr", "messrs", "approx"})

DOUBLE_MARKS = {"“": "open", "„": "open", "«": "open", "”": "close", "»": "close", '"': "either"}
SINGLE_MARKS = {"‘": "open", "‹": "open", "’": "close", "›": "close", "'": "either"}
DASHES = "—–"
LINE_BREAK = re.compile(r"[ \t\r\f\v]*\n\s*")
PARAGRAPH_END_CHARS = ".!?:\"”’'»)]…"
MEASUREMENT = re.compile(r"\d\s*['’′]\s*\d{1,2}(?:\.\d+)?\s*[\"”″]")
SENTENCE_END = re.compile(r"[.!?]+(?=[\s\"”’'»)]*(?:\s|$))")
WORD_RE = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")
MAX_CUE_SEARCH_STEPS = 40


# ---------------------------------------------------------------- data

@dataclass
class Span:
    """A quoted stretch of text: marks at `open_at`/`close_at` (close_at None when it runs to
    the paragraph end as the first part of a multi-paragraph quote)."""
    start: int
    end: int
    open_at: int
    close_at: int | None
    paragraph: int
    continues: bool = False       # runs on into the next paragraph
    continuation: bool = False    # opens the paragraph after an unclosed quote


@dataclass
class Speaker:
    speaker: str | None = None
    mention: str | None = None
    start: int | None = None
    end: int | None = None
    label: str | None = None
    cue: str | None = None
    from_cue: bool = False        # found through a cue, not inherited


@dataclass
class Context:
    """What the attribution rules need about one document, computed once."""
    doc: object
    text: str
    spans: list
    paragraphs: list              # (start, end) character ranges
    entity_of_token: dict         # token index -> entity dict
    quote_of_token: list          # token index -> index of the span covering it (marks included) or -1
    gender: dict = field(default_factory=dict)   # canonical -> "m" / "f"
    speakers: list = field(default_factory=list)  # Speaker per kept quote, in order
    kept: list = field(default_factory=list)      # span index per kept quote, in order
    surnames: dict | None = None                  # surname -> person entity, on first use
    token_starts: list = field(default_factory=list)  # character offset of each token


# ---------------------------------------------------------------- 1. marks -> spans

def ends_paragraph_line(line: str) -> bool:
    """A line that ends the way a paragraph ends: sentence punctuation or a closing mark."""
    line = line.rstrip()
    return bool(line) and line[-1] in PARAGRAPH_END_CHARS


def paragraph_ranges(text: str) -> list:
    """Paragraphs: split at blank lines, and at single line breaks too when the text puts one
    paragraph per line (most lines end a sentence). In hard-wrapped text (most line breaks fall
    mid-sentence) a single line break ends a paragraph only after a short line that ends a
    sentence and before a capital or an opening mark."""
    breaks = []                                       # (start, end, blank)
    for m in LINE_BREAK.finditer(text):
        breaks.append((m.start(), m.end(), m.group(0).count("\n") > 1))
    single = [(a, b) for a, b, blank in breaks if not blank]
    cuts = [(a, b) for a, b, blank in breaks if blank]
    if single:
        line_starts = [0] + [b for _, b, _ in breaks]
        lines = [text[lo:a] for lo, (a, _, _) in zip(line_starts, breaks)]
        ends = {a: line for line, (a, _, _) in zip(lines, breaks)}
        wrapped = sum(1 for a, b in single if not ends_paragraph_line(ends[a])
                      or text[b:b + 1].islower()) * 2 > len(single)
        if not wrapped:
            cuts += single
        else:
            widths = sorted(len(line.rstrip()) for line in lines)
            width = widths[int(0.9 * (len(widths) - 1))] if widths else 0
            cuts += [(a, b) for a, b in single if ends_paragraph_line(ends[a])
                     and len(ends[a].rstrip()) < 0.75 * width
                     and (text[b:b + 1].isupper() or text[b:b + 1] in "\"“‘'«")]
    ranges, start = [], 0
    for a, b in sorted(cuts):
        ranges.append((start, a))
        start = b
    ranges.append((start, len(text)))
    return [(s, e) for s, e in ranges if text[s:e].strip()]


def measurement_marks(text: str) -> set:
    """Positions of the marks in 5'11"-style measurements, which are never quote marks."""
    positions = set()
    for m in MEASUREMENT.finditer(text):
        positions.update(i for i in range(m.start(), m.end()) if text[i] in "'’′\"”″")
    return positions


def mark_role(text: str, i: int, table: dict) -> str | None:
    """'open', 'close', 'weak_close' (maybe a plural possessive: players' union), or None
    (an apostrophe) for the mark at i, from the glyph and the characters around it."""
    before = text[i - 1] if i > 0 else " "
    after = text[i + 1] if i + 1 < len(text) else " "
    glyph = table[text[i]]
    if before.isalnum() and after.isalnum():
        return None                                   # it's, developer’s, O'Neill
    opens_here = before.isspace() or before in "([{—–-/" or (before in "“‘\"'" and after.isalnum())
    closes_here = not before.isspace() and (after.isspace() or not after.isalnum())
    if table is SINGLE_MARKS and before.isalnum() and closes_here:
        if before.lower() == "s" and re.match(r"\s+[a-z0-9]", text[i + 1:i + 3]):
            return "weak_close"                       # players’ union, Jones’ car
    if glyph == "open" and closes_here and not opens_here and table is DOUBLE_MARKS:
        return "close"                                # a mistyped closer
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
            later_closer = any(r in ("close", "either") for _, r in marks[k + 1:])
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
                depth += 1 if depth < 2 else 0        # one level of same-type nesting at most
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
            spans.append(Span(o + 1, c, o, c, p, continuation=carried and k == 0 and o == first_char(text, lo)))
        carried = False
        if unclosed is not None and p + 1 < len(paragraphs) and \
                starts_with_opener(text, *paragraphs[p + 1], table):
            end = len(text[:hi].rstrip())
            spans.append(Span(unclosed + 1, end, unclosed, None, p, continues=True,
                              continuation=bool(spans) and spans[-1].continues and spans[-1].paragraph == p - 1
                              and unclosed == first_char(text, lo)))
            carried = True
    spans.sort(key=lambda s: s.start)
    return spans


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
    if len(single_top) > len(double_top):             # British style: ‘…’ outside, “…” inside
        main, other = single, double
    else:
        main, other = double, single
    spans = main + [s for s in other if not overlaps(s, main)]
    return sorted((s for s in spans if WORD_RE.search(text[s.start:s.end])), key=lambda s: s.start)


# ---------------------------------------------------------------- token helpers

def token_index_at(ctx: "Context", char: int) -> int | None:
    """Index of the token covering or starting after `char` (a binary search over token
    offsets: `doc.char_span` rebuilds `doc.text` on every call, quadratic on long articles)."""
    starts = ctx.token_starts
    if not starts or char < 0 or char >= len(ctx.text):
        return None
    i = bisect.bisect_right(starts, char) - 1
    if i >= 0 and char < starts[i] + len(ctx.doc[i]):
        return i
    return i + 1 if i + 1 < len(starts) else None


def tokens_between(ctx: Context, lo: int, hi: int) -> list:
    """Tokens starting in text[lo:hi] that are outside every quote and not whitespace."""
    if hi <= lo:
        return []
    span = ctx.doc.char_span(lo, hi, alignment_mode="contract")
    if span is None:
        return []
    return [t for t in span if not t.is_space and ctx.quote_of_token[t.i] < 0]


def quote_of_tokens(doc, spans: list) -> list:
    owner = [-1] * len(doc)
    for k, s in enumerate(spans):
        hi = (s.close_at + 1) if s.close_at is not None else s.end
        span = doc.char_span(s.open_at, hi, alignment_mode="expand")
        if span is not None:
            for t in span:
                owner[t.i] = k
    return owner


def entity_index(doc, entities: list) -> dict:
    """Token index -> entity dict for every token inside an entity mention."""
    out = {}
    for ent in entities:
        span = doc.char_span(ent["start"], ent["end"], alignment_mode="expand")
        if span is not None:
            for t in span:
                out[t.i] = ent
    return out


def paragraph_of(ctx: Context, char: int) -> int:
    for k, (lo, hi) in enumerate(ctx.paragraphs):
        if lo <= char < hi + 1:
            return k
    return len(ctx.paragraphs) - 1


# ---------------------------------------------------------------- 2. span -> quote or not

def previous_nonspace(text: str, i: int) -> int:
    while i > 0 and text[i - 1].isspace():
        i -= 1
    return i - 1


def is_direct_position(text: str, span: Span, paragraph_start: int) -> bool:
    """A quote that opens a paragraph or sentence, or follows a colon, comma or dash."""
    k = previous_nonspace(text, span.open_at)
    return k < paragraph_start or text[k] in ".!?:;,—–-([" or text[k] in "\"”’'"


def quote_words(text: str) -> list:
    return WORD_RE.findall(text)


def is_title_like(quoted: str) -> bool:
    """Every word capitalised ("Night Harbour", "Keep Willowmere Learning") and no sentence
    punctuation: the name of a work, a campaign or a nickname, not speech."""
    words = quote_words(quoted)
    if not words or len(words) > 10 or re.search(r"[.!?]\W*$", quoted.strip()):
        return False
    content = [w for w in words if w.lower() not in TITLE_SMALL_WORDS]
    return bool(content) and all(w[0].isupper() or w[0].isdigit() for w in content)


def is_code_like(quoted: str) -> bool:
    """A label or code ("KM-7"): no lower-case letter at all."""
    return not re.search(r"[a-z]", quoted) and len(quote_words(quoted)) <= 3


def preceding_words(text: str, i: int, n: int = 3) -> str:
    return " ".join(text[max(0, i - 60):i].lower().split()[-n:])


def is_named_by_phrase(ctx: Context, span: Span) -> bool:
    """Right after "so-called", "known as", "titled", a work noun, or a naming verb without
    a subject ("a film called ..."): a name or scare quote."""
    before = preceding_words(ctx.text, span.open_at)
    if any(before.endswith(p) for p in NAMING_PHRASES):
        return True
    last = before.split()[-1].strip(",") if before else ""
    if last in WORK_NOUNS:
        return True
    k = token_index_at(ctx, previous_nonspace(ctx.text, span.open_at))
    if k is not None:
        tok = ctx.doc[k]
        if tok.lemma_.lower() in NAMING_LEMMAS and not has_subject(tok):
            return True
    return False


def is_nickname(text: str, span: Span) -> bool:
    """Robert "Bobby" Lane: a short capitalised quote between two capitalised words."""
    if span.close_at is None or len(quote_words(text[span.start:span.end])) > 3:
        return False
    before = re.search(r"([A-Z][\w.\-]*)\s*$", text[max(0, span.open_at - 30):span.open_at])
    after = re.match(r"\s*([A-Z][\w\-]*)", text[span.close_at + 1:span.close_at + 30])
    return bool(before and after)


# ---------------------------------------------------------------- cue verbs and subjects

def is_cue(tok) -> bool:
    lemma = tok.lemma_.lower()
    if lemma in CUE_LEMMAS and tok.pos_ in ("VERB", "AUX", "NOUN", "PROPN", "ADJ"):
        if lemma in NAMING_LEMMAS:
            return has_subject(tok)
        return tok.pos_ != "NOUN" or tok.dep_ in ("ROOT", "ccomp", "conj", "relcl", "advcl")
    nxt = tok.nbor(1) if tok.i + 1 < len(tok.doc) else None
    if lemma == "put" and nxt is not None and nxt.lower_ == "it" and \
            any(c.lower_ == "as" and c.i < tok.i for c in tok.children):
        return True                                   # "as one analyst put it, ..."
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
    for child in tok.children:
        if child.dep_ == "prt" and child.i == tok.i + 1:
            words.append(child.text)
        elif tok.lemma_ == "put" and child.lower_ == "it" and child.i == tok.i + 1:
            words.append(child.text)
    for child in tok.children:
        if child.dep_ in ("dobj", "dative") and child.i > tok.i:
            phrase = tok.doc[child.left_edge.i:child.i + 1].text
            if phrase.lower() in AUDIENCE_WORDS or (tok.lemma_ == "tell" and child.pos_ == "PROPN"
                                                    and child.i - tok.i <= 4):
                words.append(phrase)                  # "told reporters", "told CNN", "told the Guardian"
    return " ".join(words)


def mention_span(ctx: Context, head, lo: int, hi: int):
    """The words of a subject phrase: its subtree, cut before a relative clause and kept
    within text[lo:hi] and outside quotes."""
    doc = ctx.doc
    if head.tag_ in ("PRP", "WP") or head.lower_ in PERSON_PRONOUNS | GROUP_PRONOUNS | RELATIVE_PRONOUNS:
        return doc[head.i:head.i + 1]
    left, right = head.left_edge.i, head.right_edge.i
    for child in head.children:
        if child.dep_ in ("relcl", "acl") and child.i > head.i:
            right = min(right, child.left_edge.i - 1)
    while left < head.i and (doc[left].idx < lo or ctx.quote_of_token[left] >= 0 or doc[left].is_punct):
        left += 1
    while right > head.i and (doc[right].idx >= hi or ctx.quote_of_token[right] >= 0
                              or doc[right].is_punct or doc[right].lower_ in ("who", "which", "that")):
        right -= 1
    for k in range(head.i + 1, right + 1):            # "Marcus Fell, a hydrologist ... who" stops at "who"
        if doc[k].tag_ in ("WP", "WDT") or doc[k].is_space:
            right = k - 1
            break
    while right > head.i and doc[right].is_punct:
        right -= 1
    return doc[left:right + 1]


# ---------------------------------------------------------------- 3. resolving a mention

def speaker_from_entity(ent: dict, mention, cue: str | None) -> Speaker:
    return Speaker(ent["canonical"], mention.text, mention.start_char, mention.end_char,
                   ent["label"], cue)


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
        antecedent = head.head.head                  # "Joe Biden, who said ..."
        found = resolve_mention(ctx, doc[antecedent.i:antecedent.i + 1], cue, before_char)
        return Speaker(found.speaker, mention.text, mention.start_char, mention.end_char, found.label, cue)
    if len(mention) == 1 and (word in PERSON_PRONOUNS or word in GROUP_PRONOUNS):
        found = resolve_pronoun(ctx, word, mention.start_char)
        return Speaker(found["canonical"] if found else None, mention.text, mention.start_char,
                       mention.end_char, found["label"] if found else None, cue)
    ents = [e for e in entities_in(ctx, mention) if e["label"] in ("PERSON", "ORG", "GPE", "NORP", "FAC")]
    head_ent = ctx.entity_of_token.get(head.i)
    lemma = head.lower_ if head.lower_ in VOICE_NOUNS | ORG_NOUNS else head.lemma_.lower()
    if head_ent is not None and head_ent["label"] in ("PERSON", "ORG", "GPE", "NORP", "FAC"):
        return speaker_from_entity(head_ent, mention, cue)
    for child in head.children:                       # apposition: "Kremlin spokesman Dmitry Peskov"
        ent = ctx.entity_of_token.get(child.i)
        if child.dep_ in ("appos", "compound", "nmod") and ent is not None and is_person(ctx, ent):
            return speaker_from_entity(ent, mention, cue)
    for tok in mention:                               # "X's co-founder and chief executive, Jane Doe"
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
                return Speaker(person["canonical"], mention.text, mention.start_char, mention.end_char,
                               person["label"], cue)
    named = [e for e in ents if e["label"] in ("PERSON", "ORG") and not is_possessor(ctx, e)]
    if named:                                         # not "Russian" in "the Russian embassy"
        return speaker_from_entity(named[0], mention, cue)
    if head.pos_ == "PROPN" or head.is_title:         # a name the tagger missed here
        ent = entity_named(ctx, name_words_at(ctx.doc, head))
        if ent is not None:
            return speaker_from_entity(ent, mention, cue)
    return written


def name_words_at(doc, head) -> str:
    """The proper-noun run ending at `head` ("Maya Okonjo" from "state Senator Maya Okonjo")."""
    i = head.i
    while i > 0 and doc[i - 1].pos_ == "PROPN" and doc[i - 1].head.i == head.i:
        i -= 1
    return doc[i:head.i + 1].text


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
    words = [w for w in re.findall(r"[^\W\d_][\w\-]*", text) if w.lower() not in HONORIFIC_WORDS]
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
    return bool(re.match(r"\s*['’](?:s\b|(?![\w]))", ctx.text[ent["end"]:ent["end"] + 3])) \
        or bool(re.search(r"s['’]$", ent["text"]))    # "James’ brother"


def is_bare_noun_phrase(mention) -> bool:
    """'the judge', 'the company', 'the festival's director' - nothing that names who."""
    return all(t.dep_ in ("det", "poss", "amod", "compound", "case") or t.i == mention.root.i
               for t in mention if not t.is_punct) and len(mention) <= 4


def voice_owner(ctx: Context, head, mention) -> Speaker | None:
    """X in "a spokesperson for X", "a report by X", "X's statement", "the company's statement"."""
    for child in head.children:
        target = None
        if child.dep_ == "prep" and child.lower_ in ("for", "by", "from", "of", "at"):
            target = next((g for g in child.children if g.dep_ == "pobj"), None)
        elif child.dep_ == "poss":
            target = child
        elif child.dep_ == "acl":                     # "a report published by X"
            for g in child.children:
                if g.dep_ == "agent" or (g.dep_ == "prep" and g.lower_ == "by"):
                    target = next((h for h in g.children if h.dep_ == "pobj"), None)
        if target is not None:
            span = ctx.doc[target.left_edge.i:target.right_edge.i + 1]
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
            owner = voice_owner(ctx, tok, ctx.doc[i:i + 1])
            if owner is not None:
                return owner
            break
    subject = previous_sentence_subject(ctx, before_char)
    if subject is not None and subject.label in ("ORG", "GPE", "NORP"):
        return subject
    return None


def mentions_before(ctx: Context, char: int, labels: tuple):
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
        want = "m" if word in ("he", "him") else "f" if word in ("she", "her") else None
        candidates = list(mentions_before(ctx, char, NAME_LABELS))
        compatible = [(i, e) for i, e in candidates
                      if want is None or ctx.gender.get(e["canonical"]) in (None, want)]
        for _, ent in compatible:
            if is_person(ctx, ent):
                return ent
        for i, ent in compatible:                     # a speaker the tagger did not call PERSON
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
    org_by_name = {}
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
            name = ctx.doc[tok.left_edge.i:i + 1].text
            ent = org_by_name.get(name) or org_by_name.get(tok.text)
        if ent is not None and ent["label"] == "ORG":
            return ent
    return None


def resolve_role_noun(ctx: Context, noun: str, char: int) -> dict | None:
    """'the judge' -> the last person introduced with that word ("Judge Abigail Thornbury",
    "the interior minister, Stefan Albescu"), else the nearest person before."""
    people = [(i, e) for i, e in mentions_before(ctx, char, NAME_LABELS) if is_person(ctx, e)]
    for i, ent in people:
        if noun in descriptor_words(ctx, i):
            return ent
    want = "f" if noun in FEMALE_WORDS else "m" if noun in MALE_WORDS else None
    for _, ent in people:
        if want is None or ctx.gender.get(ent["canonical"]) in (None, want):
            return ent
    return None


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


# ---------------------------------------------------------------- gender of people, from the article

def infer_gender(doc, entity_of_token: dict, quote_of_token: list) -> dict:
    """Gender of each person, voted by honorifics and by he/she/his/her that follow a mention
    of them (outside quotes, with no other candidate named in between). A name tagged other
    than PERSON takes part only as a subject, so "Adeyemi turns his attention" counts."""
    votes: dict = {}
    last, last_at = None, -100
    for tok in doc:
        if quote_of_token[tok.i] >= 0:
            continue
        if tok.text in (".", "!", "?") or (tok.is_space and "\n" in tok.text):
            last = None                               # votes stay within one sentence
            continue
        ent = entity_of_token.get(tok.i)
        if ent is not None and ent["label"] in NAME_LABELS:
            first_token = ent is not entity_of_token.get(tok.i - 1) if tok.i else True
            if first_token and tok.i:
                prev = doc[tok.i - 1].lower_.rstrip(".")
                if prev in MALE_WORDS or prev in FEMALE_WORDS:
                    vote(votes, ent["canonical"], "m" if prev in MALE_WORDS else "f", 3)
            if ent["label"] == "PERSON" or tok.dep_ in ("nsubj", "nsubjpass"):
                last, last_at = ent, tok.i
            continue
        low = tok.lower_
        reach = 40 if last is not None and last["label"] == "PERSON" else 15
        if last is not None and tok.i - last_at < reach and tok.dep_ in ("nsubj", "nsubjpass", "poss"):
            if low in ("he", "his"):
                vote(votes, last["canonical"], "m", 1)
            elif low in ("she", "her"):
                vote(votes, last["canonical"], "f", 1)
    return {name: ("m" if v["m"] > v["f"] else "f") for name, v in votes.items() if v["m"] != v["f"]}


def vote(votes: dict, name: str, gender: str, weight: int):
    votes.setdefault(name, {"m": 0, "f": 0})[gender] += weight


# ---------------------------------------------------------------- attribution rules

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


def is_abbreviation(text: str, dot: int) -> bool:
    word = re.search(r"([\w.]+)$", text[max(0, dot - 12):dot])
    if text[dot] != "." or not word:
        return False
    w = word.group(1).lower()
    return w in ABBREVIATIONS or len(w) == 1 or re.fullmatch(r"(\w\.)+\w", w) is not None


def after_is_attribution(ctx: Context, k: int) -> bool:
    """The sentence goes on after the closing mark: the quote ends in a comma (or ?/!/dash
    followed by a lower-case word), or a comma follows the mark."""
    span = ctx.spans[k]
    if span.close_at is None:
        return False
    inner = ctx.text[span.start:span.end].rstrip()
    rest = ctx.text[span.close_at + 1:span.close_at + 40]
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
    inner = ctx.text[span.start:span.end].rstrip()
    rest = ctx.text[span.close_at + 1:span.close_at + 60]
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
    for j, tok in enumerate(toks[:-1]):
        if tok.lower_ == "according" and toks[j + 1].lower_ == "to":
            phrase = [t for t in toks[j + 2:] if not t.is_punct or t.text in ".-&'’"]
            end = next((n for n, t in enumerate(toks[j + 2:]) if t.text in ",;:"), len(toks) - j - 2)
            words = toks[j + 2:j + 2 + end]
            while words and words[-1].is_punct:
                words = words[:-1]
            if phrase and words:
                mention = ctx.doc[words[0].i:words[-1].i + 1]
                return resolve_mention(ctx, mention, "according to", mention.start_char)
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


def subject_phrase(ctx: Context, subj, lo: int, hi: int):
    """The subject's words, joined with sibling subjects a bad parse split off
    ("co" / "-" / "founder and chief executive, Kenji Halvorsen")."""
    siblings = [c for c in subj.head.children if c.dep_ == subj.dep_ and ctx.quote_of_token[c.i] < 0
                and lo <= c.idx < hi]
    group = [subj]
    for c in sorted(siblings, key=lambda t: t.i):
        if c.i == group[-1].right_edge.i + 1:
            group.append(c)
    if len(group) == 1:
        return mention_span(ctx, subj, lo, hi)
    first = mention_span(ctx, group[0], lo, hi)
    last = mention_span(ctx, group[-1], lo, hi)
    return ctx.doc[first.start:last.end]


def adjacent_name(ctx: Context, toks: list, cue):
    """When the parse gave the cue no subject: the words of the clause right before it
    ("Okonjo shot back", "The ruling states:"), else the name right after it ("said Ms Pryce")."""
    pos = toks.index(cue)
    clause = []
    for t in reversed(toks[:pos]):
        if t.is_punct or t.lower_ in ("and", "but", "that") or len(clause) >= 8:
            break
        clause.insert(0, t)
    while clause and clause[-1].pos_ == "ADV":
        clause.pop()
    if clause and any(t.pos_ in ("PROPN", "NOUN", "PRON") or t.is_title for t in clause):
        return ctx.doc[clause[0].i:clause[-1].i + 1]
    after = [t for t in toks[pos + 1:] if t.pos_ in ("PROPN", "NOUN", "PRON")]
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
    if mention is None or not len(mention):
        return None
    ents = [e for e in entities_in(ctx, mention) if e["label"] in ("PERSON", "ORG")]
    ents.sort(key=lambda e: e["label"] != "PERSON")
    if ents:
        return Speaker(ents[0]["canonical"], mention.text, mention.start_char, mention.end_char,
                       ents[0]["label"], "—")
    first = mention.text.split(",")[0]
    return Speaker(first, mention.text, mention.start_char, mention.end_char, None, "—")


def previous_sentence_subject(ctx: Context, char: int) -> Speaker | None:
    """The subject of the sentence just before `char` (in this paragraph or the one before),
    the way a reader carries the speaker into an unattributed quote."""
    para = paragraph_of(ctx, char)
    lo = ctx.paragraphs[max(0, para - 1)][0]
    bounds = [lo] + [m.end() for m in SENTENCE_END.finditer(ctx.text, lo, char)
                     if not is_abbreviation(ctx.text, m.start())] + [char]
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
        if found.label in NAME_LABELS or (found.speaker and subj.lower_ in PERSON_PRONOUNS) \
                or (found.speaker and subj.pos_ == "PROPN"):
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
    return no_cue_speaker(ctx, k)


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
    gap = ctx.text[b_lo:span.open_at]
    if same_para is not None and not WORD_RE.search(gap):
        return inherited(same_para)
    subject = previous_sentence_subject(ctx, span.open_at)
    if subject is not None:
        return subject
    earlier = previous_quote_speaker(ctx, k, same_paragraph_only=False)
    return inherited(earlier) if earlier is not None else Speaker()


def inherited(spk: Speaker) -> Speaker:
    return Speaker(spk.speaker, spk.mention, spk.start, spk.end, spk.label, None)


# ---------------------------------------------------------------- driver

def classify(ctx: Context, k: int) -> str | None:
    """'direct', 'partial' or None (not a quotation of speech)."""
    span = ctx.spans[k]
    quoted = ctx.text[span.start:span.end]
    if span.continuation or span.continues:
        return "direct"
    if is_nickname(ctx.text, span) or is_named_by_phrase(ctx, span) or is_code_like(quoted):
        return None
    para_lo = ctx.paragraphs[span.paragraph][0]
    return "direct" if is_direct_position(ctx.text, span, para_lo) else "partial"


def attribute(ctx: Context, k: int, kind: str) -> Speaker | None:
    """The speaker of quote k, or None when a partial or title-like quote has no cue."""
    span = ctx.spans[k]
    quoted = ctx.text[span.start:span.end]
    if kind == "partial":
        found = partial_cue_speaker(ctx, k)
        if found is None and ends_clause_before_cue(ctx, k):
            found = cue_speaker(ctx, *region_after(ctx, k), nearest_last=False)
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
    chains, chain = [], []
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
                    by_span[k].update({key: cued[-1][key] for key in (
                        "speaker", "speaker_mention", "speaker_start", "speaker_end", "speaker_label")})


def build_context(doc, entities: list) -> Context:
    text = doc.text
    paragraphs = paragraph_ranges(text)
    spans = find_quote_spans(text, paragraphs)
    owner = quote_of_tokens(doc, spans)
    ent_index = entity_index(doc, entities)
    ctx = Context(doc, text, spans, paragraphs, ent_index, owner)
    ctx.token_starts = [t.idx for t in doc]
    ctx.gender = infer_gender(doc, ent_index, owner)
    return ctx


def record(ctx: Context, k: int, kind: str, spk: Speaker) -> dict:
    span = ctx.spans[k]
    return {"text": ctx.text[span.start:span.end], "start": span.start, "end": span.end,
            "speaker": spk.speaker, "speaker_mention": spk.mention, "speaker_start": spk.start,
            "speaker_end": spk.end, "speaker_label": spk.label, "cue": spk.cue, "kind": kind,
            "_k": k, "_from_cue": spk.from_cue}


def extract_quotes(doc, entities: list[dict]) -> list[dict]:
    """Quotes of a spaCy Doc: dicts with keys text, start, end (char offsets of the quoted words
    WITHOUT the marks), speaker, speaker_mention, speaker_start, speaker_end, speaker_label, cue,
    kind ('direct'|'partial'). Never raises for any input; returns [] when none."""
    try:
        if doc is None or not doc.text or not any(c in doc.text for c in "\"“”„«‘’'"):
            return []
        ctx = build_context(doc, entities or [])
    except Exception:
        return []
    records = []
    for k in range(len(ctx.spans)):
        try:
            kind = classify(ctx, k)
            spk = attribute(ctx, k, kind) if kind else None
        except Exception:  # one odd quote must not cost the article its other quotes
            continue
        if spk is None:
            continue
        ctx.kept.append(k)
        ctx.speakers.append(spk)
        records.append(record(ctx, k, kind, spk))
    try:
        share_across_parts(ctx, records)
    except Exception:
        pass
    for r in records:
        r.pop("_k", None)
        r.pop("_from_cue", None)
    return records
