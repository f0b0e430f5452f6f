"""Parse RSS / Atom / RDF feed bytes into ParsedArticle and Reject dicts.

`parse_feed` never raises: whatever the bytes, every entry ends as exactly one
article or one reject, and a document with no usable entries is one reject.

Security: feedparser is only ever handed a byte stream (given a bytes or str
"document" that looks like a path or URL it would open or fetch it), and XML
whose DTD tries nested entity expansion or external entities, or whose internal
entities would expand to too much text, is rejected before any XML parser sees
it (see `dtd_problem`). An entry's text is capped (MAX_ENTRY_TEXT_CHARS), and an
entry whose link urllib cannot parse is a reject, never an exception later on.
"""

from __future__ import annotations

import calendar
import codecs
import io
import re
from datetime import datetime, timezone
from html.parser import HTMLParser

import feedparser
from apache_beam.metrics import Metrics

from transforms.ingest.timeparse import parse_datetime
from transforms.ingest.urls import url_error
from transforms.languages import normalise_language
from transforms.metrics import NAMESPACE
from transforms.rejects import make_reject

# --- XML safety pre-scan ----------------------------------------------------

# More declarations than any real feed needs is itself a sign of an attack.
MAX_ENTITY_DECLARATIONS = 100
# Characters all internal entity references of a document may expand to (value
# length x references, summed). Feeds declare a few short ones (&nbsp; as "&#160;");
# a 10 KB value used 10,000 times in a 40 KB file is a 100-million-character article.
MAX_ENTITY_EXPANSION = 1_000_000
# Characters of text one entry may have after parsing (spaCy's default max_length).
MAX_ENTRY_TEXT_CHARS = 1_000_000

ENTITY_DECLARATION = re.compile(r"<!ENTITY\s+(%\s+)?([^\s>]+)\s+(.*?)>", re.DOTALL)
# The same declaration read up to the end of its quoted value (which may hold ">").
ENTITY_LITERAL = re.compile(r'<!ENTITY\s+(?:%\s+)?[^\s>]+\s+("[^"]*"|\'[^\']*\')')
CHARACTER_REFERENCE = re.compile(r"&#(?:[xX][0-9a-fA-F]+|[0-9]+);")
ENTITY_REFERENCE = re.compile(r"[&%](?!#)[\w.:-]+;")
EXTERNAL_ID = re.compile(r"^(SYSTEM|PUBLIC)\b", re.IGNORECASE)
QUOTED = re.compile(r'"([^"]*)"|\'([^\']*)\'')

BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
NUL_PATTERNS = (
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
)


def decode_for_scan(data: bytes) -> str:
    """Text good enough to find markup in, for ASCII- and UTF-16/32-based encodings."""
    for bom, codec in BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, errors="replace")
    for head, codec in NUL_PATTERNS:
        if data.startswith(head):
            return data.decode(codec, errors="replace")
    return data.decode("latin-1")  # 1:1 on bytes, so ASCII markup is found whatever the charset


def dangerous_entity_reason(is_parameter: bool, name: str, body: str) -> str | None:
    """Why one `<!ENTITY ...>` declaration is unsafe, or None."""
    if EXTERNAL_ID.match(body):
        literals = [a or b for a, b in QUOTED.findall(body)]
        system_id = literals[-1] if literals else ""
        if not is_parameter:
            return f"external entity {name!r} ({system_id!r})"
        # External parameter entities pointing at the web (XHTML entity sets) are
        # common and never fetched; anything local is an XXE attempt.
        if not re.match(r"https?://", system_id, re.IGNORECASE):
            return f"external parameter entity {name!r} ({system_id!r})"
        return None
    if ENTITY_REFERENCE.search(body):
        return f"entity {name!r} expands other entities"
    return None


def entity_sizes(text: str) -> dict:
    """(sigil, name) -> characters one reference to each internal entity expands to
    (the longest, when a name is declared twice; a character reference counts as one)."""
    sizes: dict[tuple[str, str], int] = {}
    for match in ENTITY_DECLARATION.finditer(text):
        percent, name, body = match.groups()
        if EXTERNAL_ID.match(body):
            continue  # refused, or (web parameter entities) never fetched
        literal = ENTITY_LITERAL.match(text, match.start())
        value = literal.group(1)[1:-1] if literal else body
        key = ("%" if percent else "&", name)
        sizes[key] = max(sizes.get(key, 0), len(CHARACTER_REFERENCE.sub("x", value)))
    return sizes


def entity_expansion(text: str) -> int:
    """Characters the document's references to its internal entities expand to.
    References are counted in the whole text: an over-count at worst (say in a comment)."""
    return sum(size * text.count(f"{sigil}{name};") for (sigil, name), size in entity_sizes(text).items() if size)


def dtd_problem(data: bytes) -> tuple[str, str] | None:
    """(error, detail) when the document's DTD is unsafe to hand to an XML parser, or None.

    `unsafe_xml`: too many declarations, external entities, entities that expand
    other entities; `entity_expansion`: internal entities that would expand to
    more than MAX_ENTITY_EXPANSION characters. The whole document is scanned (not
    just the prolog) because feedparser only strips declarations before the first
    element, and a declaration hidden after a `<b` inside an entity value would
    otherwise reach expat.
    """
    text = decode_for_scan(data)
    if "<!ENTITY" not in text:
        return None
    declarations = ENTITY_DECLARATION.findall(text)
    if len(declarations) > MAX_ENTITY_DECLARATIONS:
        return "unsafe_xml", f"{len(declarations)} entity declarations"
    for percent, name, body in declarations:
        reason = dangerous_entity_reason(bool(percent), name, body)
        if reason:
            return "unsafe_xml", reason
    expansion = entity_expansion(text)
    if expansion > MAX_ENTITY_EXPANSION:
        return "entity_expansion", (
            f"internal entities would expand to {expansion} characters (limit {MAX_ENTITY_EXPANSION})"
        )
    return None


# --- HTML to plain text -----------------------------------------------------

BLOCK_TAGS = frozenset(
    """
    address article aside blockquote dd div dl dt figcaption figure footer form
    h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tr ul
""".split()
)
SKIPPED_TAGS = frozenset({"script", "style", "head", "title", "noscript", "template"})


class TextCollector(HTMLParser):
    """Collects text as paragraphs; block tags end a paragraph, <br> a line."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self.lines: list[str] = []
        self.words: list[str] = []
        self.skip_depth = 0

    def end_line(self):
        if self.words:
            self.lines.append(" ".join(self.words))
            self.words = []

    def end_paragraph(self):
        self.end_line()
        if self.lines:
            self.paragraphs.append("\n".join(self.lines))
            self.lines = []

    def handle_starttag(self, tag, attrs):
        if tag in SKIPPED_TAGS:
            self.skip_depth += 1
        elif tag == "br":
            self.end_line()
        elif tag in BLOCK_TAGS:
            self.end_paragraph()

    def handle_startendtag(self, tag, attrs):
        if tag == "br":
            self.end_line()
        elif tag in BLOCK_TAGS:
            self.end_paragraph()

    def handle_endtag(self, tag):
        if tag in SKIPPED_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in BLOCK_TAGS:
            self.end_paragraph()

    def handle_data(self, data):
        if not self.skip_depth:
            self.words.extend(data.split())

    def text(self) -> str:
        self.end_paragraph()
        return "\n\n".join(self.paragraphs)


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment, paragraphs separated by blank lines."""
    collector = TextCollector()
    try:
        collector.feed(html)
        collector.close()
    except AssertionError:  # how HTMLParser gives up on markup (`<![bogus[`): keep the text so far, counted
        Metrics.counter(NAMESPACE, "feed_html_markup_errors").inc()
    return collector.text()


def plain_text_paragraphs(text: str) -> str:
    """Normalise plain text: whitespace folded within paragraphs, blank lines between."""
    paragraphs = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    cleaned = ["\n".join(" ".join(line.split()) for line in p.strip().split("\n")) for p in paragraphs]
    return "\n\n".join(p for p in cleaned if p.strip())


def detail_to_text(value: str | None, content_type: str | None) -> str:
    if not value:
        return ""
    if content_type and "html" not in content_type and "xml" not in content_type:
        return plain_text_paragraphs(value)
    return html_to_text(value)


# --- entry fields -------------------------------------------------------------


def entry_text(entry) -> str:
    """The entry's content, else its summary, as plain text."""
    for content in entry.get("content") or []:
        text = detail_to_text(content.get("value"), content.get("type"))
        if text:
            return text
    summary_type = (entry.get("summary_detail") or {}).get("type")
    return detail_to_text(entry.get("summary"), summary_type or "text/html")


def entry_title(entry) -> str | None:
    title = entry.get("title")
    if not title:
        return None
    title_type = (entry.get("title_detail") or {}).get("type") or "text/plain"
    text = detail_to_text(title, title_type)
    return " ".join(text.split()) or None


def entry_url(entry) -> str | None:
    link = entry.get("link")
    if link:
        return link.strip()
    guid = entry.get("id") or ""
    return guid.strip() if re.match(r"https?://", guid, re.IGNORECASE) else None


def entry_authors(entry) -> list[str]:
    names = []
    for author in entry.get("authors") or []:
        name = (author.get("name") or author.get("email") or "").strip()
        if name:
            names.append(name)
    if not names and entry.get("author"):
        names.append(entry["author"].strip())
    return [n for i, n in enumerate(names) if n and n not in names[:i]]


def entry_language(entry, feed_meta) -> str | None:
    candidates = [c.get("language") for c in entry.get("content") or []]
    candidates += [
        (entry.get("summary_detail") or {}).get("language"),
        (entry.get("title_detail") or {}).get("language"),
        entry.get("language"),
        feed_meta.get("language"),
        (feed_meta.get("title_detail") or {}).get("language"),
    ]
    for candidate in candidates:
        language = normalise_language(candidate)
        if language:
            return language
    return None


# --- dates ----------------------------------------------------------------

DATE_FIELDS = ("published", "updated", "created")


def struct_time_to_utc(value) -> datetime | None:
    """feedparser's *_parsed values are UTC struct_times; out-of-range ones become None."""
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def entry_published_at(entry) -> datetime | None:
    # dict.get skips FeedParserDict's deprecated updated->published aliasing.
    for field in DATE_FIELDS:
        parsed = dict.get(entry, f"{field}_parsed")
        if parsed:
            when = struct_time_to_utc(parsed)
            if when:
                return when
    for field in DATE_FIELDS:
        raw = dict.get(entry, field)
        if isinstance(raw, str):
            when = parse_datetime(raw)
            if when:
                return when
    return None


# --- assembling results -----------------------------------------------------


def reject(input_name: str, error: str, detail: str | None) -> dict:
    return make_reject(input_name, "parse", error, detail)


def describe_bozo(parsed) -> str:
    exc = parsed.get("bozo_exception")
    if exc is None:
        return "no entries"
    return f"{type(exc).__name__}: {exc}"[:500]


def entry_problem(article: dict) -> tuple[str, str] | None:
    """(error, detail) when a parsed entry cannot be an article, or None."""
    if not article["text"].strip():
        title = article["title"] or "untitled"
        return "empty_entry", f"entry {title!r} has no content or summary"
    if len(article["text"]) > MAX_ENTRY_TEXT_CHARS:
        return "text_too_long", f"{len(article['text'])} characters (limit {MAX_ENTRY_TEXT_CHARS})"
    # Later stages split the link (host, canonical URL, page fetch): refuse it here.
    problem = article["url"] and url_error(article["url"])
    if problem:
        return "bad_url", f"link {article['url'][:200]!r}: {problem}"
    return None


def entry_to_article(entry, input_name: str, source: str | None, feed_meta) -> dict:
    return {
        "input": input_name,
        "url": entry_url(entry),
        "source": source,
        "title": entry_title(entry),
        "text": entry_text(entry),
        "authors": entry_authors(entry),
        "language": entry_language(entry, feed_meta),
        "published_at": entry_published_at(entry),
        "text_source": "feed",
    }


def feed_source(feed_meta) -> str | None:
    title = feed_meta.get("title")
    if not title:
        return None
    title_type = (feed_meta.get("title_detail") or {}).get("type") or "text/plain"
    return " ".join(detail_to_text(title, title_type).split()) or None


def run_feedparser(data: bytes, content_type: str | None):
    # Always a stream: given bytes, feedparser would first try them as a file name.
    headers = {"content-type": content_type} if content_type else {}
    return feedparser.parse(io.BytesIO(data), response_headers=headers)


def parse_feed(
    data: bytes, input_name: str, fetched_at: datetime, content_type: str | None = None
) -> tuple[list[dict], list[dict]]:
    """Feed bytes -> (ParsedArticle dicts, Reject dicts). Never raises.

    `fetched_at` is accepted for the caller's symmetry with other parsers; entries
    without a usable date get published_at=None and the caller falls back to it.
    `content_type` is the HTTP Content-Type header, when known (charset hint).
    """
    try:
        return parse_feed_unguarded(data, input_name, content_type)
    except Exception as exc:  # noqa: BLE001 - last line of defence: one bad document is a reject, never a crash
        return [], [reject(input_name, "bad_feed", f"{type(exc).__name__}: {exc}"[:500])]


def parse_feed_unguarded(data, input_name, content_type):
    if not isinstance(data, (bytes, bytearray)) or not data.strip():
        return [], [reject(input_name, "empty_feed", "no bytes")]
    problem = dtd_problem(bytes(data))
    if problem:
        return [], [reject(input_name, *problem)]
    parsed = run_feedparser(bytes(data), content_type)
    entries = parsed.get("entries") or []
    if not entries:
        error = "bad_feed" if parsed.get("bozo") else "empty_feed"
        return [], [reject(input_name, error, describe_bozo(parsed))]
    feed_meta = parsed.get("feed") or {}
    source = feed_source(feed_meta)
    articles, rejects = [], []
    for index, entry in enumerate(entries):
        entry_input = f"{input_name}#{index}"
        try:
            article = entry_to_article(entry, entry_input, source, feed_meta)
        except Exception as exc:  # noqa: BLE001 - odd field values of any kind cost only their entry, as a reject
            rejects.append(reject(entry_input, "bad_entry", f"{type(exc).__name__}: {exc}"[:500]))
            continue
        problem = entry_problem(article)
        if problem:
            error, detail = problem
            rejects.append(reject(entry_input, error, detail[:500]))
        else:
            articles.append(article)
    return articles, rejects
