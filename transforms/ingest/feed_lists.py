"""Feed lists: plain text (one feed per line) and OPML, from a local path or a URL.

Every function returns (feeds, rejects): feeds are http(s) URLs or, for lists
read from local disk only, existing local paths; rejects are Reject dicts naming
the list and line (`list.txt:7`) or outline (`subs.opml#3`) with the reason.
A list fetched from the web may only name URLs: it never makes us read local files.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from defusedxml import ElementTree as SafeElementTree
from defusedxml.common import DefusedXmlException

from transforms.ingest.http_fetch import FetchConfig, fetch
from transforms.ingest.urls import url_error
from transforms.rejects import make_reject

LIST_ACCEPT = "text/x-opml, application/xml;q=0.9, text/plain;q=0.9, */*;q=0.5"
INLINE_COMMENT = re.compile(r"\s+#.*$")
HAS_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def list_reject(input_name: str, error: str, detail: str | None, stage: str = "read") -> dict:
    return make_reject(input_name, stage, error, detail)


def is_url(text: str) -> bool:
    return bool(HAS_SCHEME.match(text)) and not re.match(r"^[A-Za-z]:[\\/]", text)  # not C:\


def check_url(url: str) -> str | None:
    """Why a feed URL is unusable, or None."""
    problem = url_error(url)  # "http://[::1", a port that is no number, ...
    if problem:
        return f"bad URL: {problem}"
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return f"only http(s) feeds are fetched, not {parts.scheme}:"
    if not parts.hostname:
        return "no host"
    if any(c.isspace() for c in url):
        return "whitespace in URL"
    return None


def resolve_entry(entry: str, base_dir: Path | None) -> tuple[str | None, str, str]:
    """(feed, error code, detail) for one list entry, error and detail "" for a feed.
    base_dir None = remote list."""
    if is_url(entry):
        problem = check_url(entry)
        return (None, "bad_url", problem) if problem else (entry, "", "")
    if base_dir is None:
        return None, "bad_url", f"a remote list may only name http(s) URLs, not {entry[:200]!r}"
    path = Path(entry).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        return None, "not_found", f"not a URL and no such file: {entry[:200]!r}"
    return str(path), "", ""


def parse_feed_list_text(text: str, source: str, base_dir: Path | None = None):
    """One feed per line; blank lines and `#` comments (whole-line or after a space) skipped."""
    feeds, rejects = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = INLINE_COMMENT.sub("", line).strip()
        if not entry or entry.startswith("#"):
            continue
        feed, error, detail = resolve_entry(entry, base_dir)
        if feed is None:
            rejects.append(list_reject(f"{source}:{number}", error, detail))
        elif feed not in feeds:
            feeds.append(feed)
    return feeds, rejects


def local_name(tag) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def parse_opml(data: bytes, source: str, base_dir: Path | None = None):
    """Every outline with an xmlUrl, at any depth. The XML is parsed with defusedxml."""
    try:
        root = SafeElementTree.fromstring(data)
    except DefusedXmlException as exc:
        return [], [list_reject(source, "unsafe_xml", f"{type(exc).__name__}: {exc}")]
    except Exception as exc:  # noqa: BLE001 - ParseError and friends: any failure to parse the list is its reject
        return [], [list_reject(source, "bad_opml", f"{type(exc).__name__}: {exc}"[:500])]
    feeds: list[str] = []
    rejects: list[dict] = []
    outlines = [e for e in root.iter() if local_name(e.tag) == "outline"]
    for index, outline in enumerate(outlines):
        attributes = {k.lower(): v for k, v in outline.attrib.items()}
        xml_url = (attributes.get("xmlurl") or "").strip()
        if not xml_url:
            continue  # folders and web-only links are not feeds
        feed, error, detail = resolve_entry(xml_url, base_dir)
        if feed is None:
            label = attributes.get("text") or attributes.get("title") or ""
            rejects.append(list_reject(f"{source}#{index}", error, f"{label[:100]!r}: {detail}"))
        elif feed not in feeds:
            feeds.append(feed)
    if not outlines and local_name(root.tag) != "opml":
        rejects.append(list_reject(source, "bad_opml", f"root element is <{local_name(root.tag)}>, not <opml>"))
    return feeds, rejects


def looks_like_opml(name: str, data: bytes) -> bool:
    if name.lower().split("?", 1)[0].endswith((".opml", ".xml")):
        return True
    return b"<opml" in data[:4096].lower()


def parse_feed_list(data: bytes, source: str, base_dir: Path | None = None):
    """Bytes of a list (text or OPML) -> (feeds, rejects)."""
    if looks_like_opml(source, data):
        return parse_opml(data, source, base_dir)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [list_reject(source, "undecodable", f"feed list is not UTF-8: {exc}")]
    return parse_feed_list_text(text, source, base_dir)


def load_feed_list(location: str, config: FetchConfig = FetchConfig()):
    """Read a feed list from a local path or an http(s) URL -> (feeds, rejects)."""
    if is_url(location):
        result = fetch(location, None, config, accept=LIST_ACCEPT)
        if result.error:
            return [], [list_reject(location, result.error, result.detail, stage="fetch")]
        if result.body is None:  # a 304 to a request that sent no validators
            return [], [list_reject(location, "http_error", f"HTTP {result.status} without a body", stage="fetch")]
        return parse_feed_list(result.body, location, base_dir=None)
    path = Path(location).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [], [list_reject(location, "unreadable", f"{type(exc).__name__}: {exc}")]
    return parse_feed_list(data, location, base_dir=path.resolve().parent)


def load_feed_lists(locations, config: FetchConfig = FetchConfig()):
    """Several lists merged, duplicates dropped, first occurrence kept."""
    feeds: list[str] = []
    rejects: list[dict] = []
    for location in locations:
        more, bad = load_feed_list(location, config)
        feeds.extend(f for f in more if f not in feeds)
        rejects.extend(bad)
    return feeds, rejects


def feed_sources(feeds, feed_lists, config: FetchConfig = FetchConfig()):
    """--feed values and --feeds-file lists -> (feed URLs, local feed files, list rejects)."""
    listed, rejects = load_feed_lists(feed_lists, config)
    every = list(dict.fromkeys(list(feeds) + listed))
    return [f for f in every if is_url(f)], [f for f in every if not is_url(f)], rejects
