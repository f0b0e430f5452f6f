"""THE one HTML path: the bytes of a page (an HTML file, a fetched page, a WARC
response record) -> its article text and metadata, decoded as a browser decodes it
and extracted by one trafilatura call with one set of settings.

Charset, in a browser's order (WHATWG Encoding/HTML standards): a byte order mark,
else the charset of the HTTP Content-Type, else a `<meta charset>` or `<meta
http-equiv="Content-Type">` (or an XML declaration) in the first bytes, else
detection (charset-normalizer), else UTF-8 with replacement characters. Labels are
read the way browsers read them (`iso-8859-1` is windows-1252, `gb2312` is
gb18030, ...); an unknown label is ignored, as browsers do, and counted
(`charset_label_unknown`).
"""

from __future__ import annotations

import codecs
import re
from email.message import Message
from typing import TYPE_CHECKING

from apache_beam.metrics import Metrics

from transforms.ingest.timeparse import parse_datetime
from transforms.ingest.urls import url_host
from transforms.languages import normalise_language
from transforms.metrics import NAMESPACE
from transforms.rejects import RejectError

if TYPE_CHECKING:
    from trafilatura.settings import Document

BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
PRESCAN_BYTES = 1024  # how far a browser looks for <meta charset> (WHATWG prescan)
# Python codecs that browsers replace by a superset (WHATWG Encoding Standard, "Encodings").
WHATWG_DECODERS = {
    "ascii": "cp1252",
    "iso8859-1": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "big5": "big5hkscs",
}
# WHATWG labels that Python's codec registry does not know.
WHATWG_LABELS = {
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "csshiftjis": "cp932",
    "windows-874": "cp874",
    "x-gbk": "gb18030",
    "x-mac-cyrillic": "mac-cyrillic",
    "x-mac-ukrainian": "mac-cyrillic",
    "x-mac-roman": "mac-roman",
    "iso-8859-8-i": "iso8859-8",
    "csiso88598i": "iso8859-8",
    "logical": "iso8859-8",
    "unicode-1-1-utf-8": "utf-8",
    "unicode11utf8": "utf-8",
    "unicode20utf8": "utf-8",
    "x-unicode20utf8": "utf-8",
    "x-euc-jp": "euc_jp",
    **{f"x-cp125{n}": f"cp125{n}" for n in range(9)},
}
# Codecs a browser never uses for a page: UTF-7 smuggles markup past filters.
REFUSED_CODECS = {"utf-7"}
META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([^\s"'/>;]+)""", re.IGNORECASE)
XML_DECLARATION = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
XML_DECLARATION_TEXT = re.compile(r"^\s*<\?xml[^>]*\?>")
# What a browser's detector guesses among (Firefox's chardetng), as Python codecs: with
# every codec in play, short Polish text in iso-8859-2 passes for iso-8859-14.
BROWSER_GUESSES = (
    "utf_8",
    "cp1252",
    "cp1250",
    "iso8859_2",
    "cp1251",
    "koi8_u",
    "cp866",
    "iso8859_5",
    "cp1253",
    "iso8859_7",
    "cp1254",
    "cp1255",
    "iso8859_8",
    "cp1256",
    "cp1257",
    "iso8859_4",
    "iso8859_13",
    "cp874",
    "cp932",
    "euc_jp",
    "iso2022_jp",
    "cp949",
    "big5",
    "gb18030",
)
# Replacement and control characters: in text a few, in bytes that are no text many.
NOT_TEXT = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufffd]")
MAX_GARBLED_SHARE = 0.1


def charset_from_content_type(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type header value, or None."""
    if not content_type:
        return None
    message = Message()
    message["content-type"] = content_type
    charset = message.get_param("charset")  # a str, or a tuple for an RFC 2231 value
    return charset if isinstance(charset, str) else None


def codec_for_label(label: str | None) -> str | None:
    """The Python codec a browser decodes with for a charset label; None for an unknown one."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if label in WHATWG_LABELS:
        return WHATWG_LABELS[label]
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    if not info._is_text_encoding or info.name in REFUSED_CODECS:  # rot13, base64, utf-7, ...
        return None
    return WHATWG_DECODERS.get(info.name, info.name)


def is_ascii_compatible(codec: str) -> bool:
    return "<meta charset=x>".encode(codec, "replace") == b"<meta charset=x>"


def declared_in_page(data: bytes) -> str | None:
    """The charset label the page declares in its first bytes (meta, or XML declaration)."""
    head = data[:PRESCAN_BYTES]
    match = META_CHARSET.search(head) or XML_DECLARATION.match(head)
    return match.group(1).decode("ascii", "replace") if match else None


def detect_charset(data: bytes) -> str | None:
    """The codec detection finds: UTF-8 when the bytes are valid UTF-8, else charset-normalizer's best guess."""
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes  # imported on use: only undeclared legacy pages need it

    best = from_bytes(data, cp_isolation=list(BROWSER_GUESSES)).best()
    return codec_for_label(best.encoding) if best is not None else None


def choose_charset(data: bytes, declared_charset: str | None = None) -> tuple[str, str, str | None]:
    """(codec, how it was chosen, unknown label or None) for a page's bytes.

    How: "bom", "http" (the header's charset), "meta", "detected" or "fallback" (UTF-8)."""
    for bom, codec in BOMS:
        if data.startswith(bom):
            return codec, "bom", None
    unknown = None
    if declared_charset:
        http_codec = codec_for_label(declared_charset)
        if http_codec:
            return http_codec, "http", None
        unknown = declared_charset
    label = declared_in_page(data)
    if label:
        meta_codec = codec_for_label(label)
        if meta_codec and not is_ascii_compatible(meta_codec):
            meta_codec = "utf-8"  # a page read as ASCII to find its meta is not UTF-16 (WHATWG)
        if meta_codec:
            return meta_codec, "meta", unknown
        unknown = unknown or label
    detected = detect_charset(data)
    return (detected, "detected", unknown) if detected else ("utf-8", "fallback", unknown)


def decode_page(data: bytes, declared_charset: str | None = None) -> tuple[str, str, str]:
    """(text, codec, how it was chosen); counts an unknown charset label as
    `charset_label_unknown`. Raises RejectError("undecodable") when the bytes are not
    text: decoded, they are mostly replacement or control characters."""
    codec, source, unknown = choose_charset(data, declared_charset)
    if unknown:
        Metrics.counter(NAMESPACE, "charset_label_unknown").inc()
    text = data.decode(codec, "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    garbled = len(NOT_TEXT.findall(text))
    if garbled > MAX_GARBLED_SHARE * max(1, len(text)):
        raise RejectError(
            "undecodable",
            f"not text: {garbled} of {len(text)} characters undecodable or control characters as {codec} ({source})",
        )
    return text, codec, source


# --- titles and body -------------------------------------------------------------

TITLE_SEPARATORS = re.compile(r"\s+(?:[-|–—:·•»«]|::)\s+")
MIN_TITLE_CHARS = 8  # what remains after stripping a site name must still be a headline (CJK ones are short)


def name_key(text: str | None) -> str:
    """Case- and punctuation-insensitive form of a name: "The Paradigm" -> "theparadigm"."""
    return "".join(ch for ch in (text or "").casefold() if ch.isalnum())


def site_name_keys(site_name: str | None, url: str | None) -> set[str]:
    """What a site calls itself: its name (with and without a leading "the") and its
    host's name ("www.linknaija.com" -> "linknaija", "linknaijacom")."""
    keys = {name_key(site_name)}
    if site_name and site_name.lower().startswith("the "):
        keys.add(name_key(site_name[4:]))
    host = url_host(url) if url else None
    if host:
        labels = host.lower().removeprefix("www.").split(".")
        keys.update({name_key(labels[0]), name_key("".join(labels[:-1])), name_key("".join(labels))})
    return {key for key in keys if len(key) >= 3}


def strip_site_name(title: str | None, site_name: str | None, url: str | None) -> str | None:
    """The title without a trailing or leading "Site Name" segment ("Story - The
    Paradigm", "LinkNaija | Story"), unless what remains would be too short to be a title."""
    if not title:
        return title
    title, keys = title.strip(), site_name_keys(site_name, url)
    stripped = title
    separators = list(TITLE_SEPARATORS.finditer(stripped))
    if separators and name_key(stripped[separators[-1].end() :]) in keys:
        stripped = stripped[: separators[-1].start()]
    first = TITLE_SEPARATORS.search(stripped)
    if first and name_key(stripped[: first.start()]) in keys:
        stripped = stripped[first.end() :]
    return stripped if len(stripped) >= MIN_TITLE_CHARS else title


def page_title(title: str | None, tree, site_name: str | None, url: str | None) -> str | None:
    """The headline without the site name. When trafilatura took the site-name half
    of "<title>LinkNaija | Story</title>" as the title, the whole <title> is stripped instead."""
    if title and name_key(title) in site_name_keys(site_name, url):
        title = " ".join((tree.findtext(".//title") or "").split()) or title
    return strip_site_name(title, site_name, url)


def paragraphs(text: str | None) -> str:
    """trafilatura puts one paragraph per line; the pipeline wants blank lines between."""
    lines = [" ".join(line.split()) for line in (text or "").splitlines()]
    return "\n\n".join(line for line in lines if line)


def drop_leading_title(text: str, title: str | None) -> str:
    """trafilatura often repeats the <h1> as the first line of the text (after blank lines)."""
    text = text.strip()
    first, _, rest = text.partition("\n")
    if title and first.strip() == title.strip() and rest.strip():
        return rest.strip()
    return text


def trafilatura_authors(value) -> list[str]:
    """trafilatura joins the authors it finds with "; " (having split "and", commas, ...)."""
    if not isinstance(value, str):
        return []
    return [name.strip() for name in value.split(";") if name.strip()]


def declared_language(tree) -> str | None:
    """The page's language as it declares it (<html lang>, Content-Language, og:locale)."""
    values = [tree.get("lang"), tree.get("{http://www.w3.org/XML/1998/namespace}lang")]
    values += tree.xpath("//meta[translate(@http-equiv, 'CLANGUETN', 'clanguetn')='content-language']/@content")
    values += tree.xpath("//meta[@property='og:locale']/@content")
    return next((code for code in map(normalise_language, values) if code), None)


# --- the one extraction ----------------------------------------------------------


def join_body_chunks(tree) -> None:
    """Move the article body's later chunks into its first one, in place.

    Some sites (wired.com) cut the body into sibling containers of one class with ads
    between; trafilatura reads only the first element its body XPaths find, and so
    kept the first chunk alone. Only siblings with the very same tag and class are
    joined: the ads and teasers between them stay out."""
    from trafilatura.xpaths import BODY_XPATH

    first = next((found[0] for found in (expr(tree) for expr in BODY_XPATH) if found), None)
    if first is None or not first.get("class"):
        return
    chunks = [
        sibling
        for sibling in first.itersiblings()
        if sibling.tag == first.tag and sibling.get("class") == first.get("class")
    ]
    for chunk in chunks:
        first.extend(list(chunk))
        chunk.drop_tree()


# One set of settings for every page: no comments; dates as the page states its
# original publication (no guessing from free text or the URL, which finds dates
# that are not the article's).
DATE_PARAMS = {"extensive_search": False, "original_date": True}


def extract_html(data: bytes, url: str | None = None, declared_charset: str | None = None) -> dict:
    """The article in an HTML page, as a dict:

    text (paragraphs separated by blank lines, the headline not repeated),
    title (site name stripped), url (the page's canonical URL, else None),
    published_at (UTC datetime or None), authors (list), site_name, language
    (as declared by the page, else None), charset (the Python codec used) and
    charset_source (bom, http, meta, detected or fallback).

    `url`: where the page came from (resolves relative links; its host helps to
    recognise the site name in the title); None for a file.
    `declared_charset`: the charset label of the HTTP Content-Type when the page came
    over HTTP (see charset_from_content_type); None for files.

    Raises transforms.rejects.RejectError("undecodable" | "empty_text", detail) when
    the bytes are not text or hold no article text.
    """
    import trafilatura  # imported on use: heavy, and only HTML inputs need it
    from trafilatura.utils import load_html

    html, codec, charset_source = decode_page(data, declared_charset)
    # lxml refuses a str that still declares an encoding; the bytes are decoded already.
    tree = load_html(XML_DECLARATION_TEXT.sub("", html, count=1))
    if tree is None:
        raise RejectError("empty_text", "not an HTML document")
    join_body_chunks(tree)
    doc: Document | None = trafilatura.bare_extraction(  # type: ignore[assignment]  # a dict only with as_dict=True
        tree, url=url, with_metadata=True, include_comments=False, date_extraction_params=DATE_PARAMS
    )
    if doc is None or not (doc.text or "").strip():
        raise RejectError("empty_text", "no main text found in HTML")
    title = page_title(doc.title, tree, doc.sitename, doc.url or url)
    text = paragraphs(doc.text)
    for headline in dict.fromkeys((title, doc.title)):  # the <h1> matches one or the other
        text = drop_leading_title(text, headline)
    return {
        "text": text,
        "title": title,
        "url": doc.url,
        "published_at": parse_datetime(doc.date),
        "authors": trafilatura_authors(doc.author),
        "site_name": doc.sitename,
        "language": declared_language(tree),
        "charset": codec,
        "charset_source": charset_source,
    }
