"""parse_feed: articles, rejects, dates, languages and hostile XML."""

import os
import time
from datetime import datetime, timezone

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from conftest import beam_pipeline
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.ingest.feeds import (
    MAX_ENTITY_EXPANSION,
    MAX_ENTRY_TEXT_CHARS,
    entity_expansion,
    html_to_text,
    parse_feed,
)
from transforms.ingest.parse import Parse
from transforms.ingest.timeparse import parse_datetime
from transforms.languages import normalise_language
from transforms.metrics import counter_totals

FETCHED = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>Daily Planet</title><language>en-US</language>
<item><title>Storm hits city</title><link>https://example.com/storm</link>
  <dc:creator>Lois Lane</dc:creator>
  <pubDate>Tue, 30 Apr 2024 18:30:00 +0200</pubDate>
  <description>Short summary</description>
  <content:encoded><![CDATA[<p>First paragraph, with <b>bold</b> words.</p><p>Second
  paragraph.</p><script>alert(1)</script>]]></content:encoded></item>
<item><title>Only a summary</title><link>https://example.com/summary</link>
  <description>&lt;p&gt;Summary text.&lt;/p&gt;</description></item>
<item><title>Nothing here</title><link>https://example.com/empty</link></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr-FR">
<title>Le Monde Test</title>
<entry><title>Bonjour</title><link href="https://example.fr/a"/>
  <author><name>Jean</name></author><author><name>Marie</name></author>
  <updated>2024-04-30T10:00:00Z</updated>
  <content type="html">&lt;p&gt;Un.&lt;/p&gt;&lt;p&gt;Deux.&lt;/p&gt;</content></entry>
</feed>"""


def test_rss_entries_become_articles_or_rejects():
    articles, rejects = parse_feed(RSS, "https://example.com/feed", FETCHED)
    assert [a["input"] for a in articles] == ["https://example.com/feed#0", "https://example.com/feed#1"]
    assert [r["input"] for r in rejects] == ["https://example.com/feed#2"]
    assert rejects[0]["error"] == "empty_entry" and rejects[0]["stage"] == "parse"
    first = articles[0]
    assert first["text"] == "First paragraph, with bold words.\n\nSecond paragraph."
    assert first["title"] == "Storm hits city"
    assert first["source"] == "Daily Planet"
    assert first["url"] == "https://example.com/storm"
    assert first["authors"] == ["Lois Lane"]
    assert first["language"] == "en"
    assert first["published_at"] == datetime(2024, 4, 30, 16, 30, tzinfo=timezone.utc)
    assert first["text_source"] == "feed"
    assert articles[1]["text"] == "Summary text."
    assert articles[1]["published_at"] is None


def test_atom_authors_language_and_dates():
    (article,), rejects = parse_feed(ATOM, "atom.xml", FETCHED)
    assert rejects == []
    assert article["authors"] == ["Jean", "Marie"]
    assert article["language"] == "fr"
    assert article["text"] == "Un.\n\nDeux."
    assert article["published_at"] == datetime(2024, 4, 30, 10, tzinfo=timezone.utc)


def test_recoverable_bozo_is_still_ingested():
    # A wrong charset header makes feedparser flag CharacterEncodingOverride.
    data = RSS.replace(b"Storm hits city", "Stürm hits city".encode())
    articles, _ = parse_feed(data, "f", FETCHED, content_type="text/xml; charset=us-ascii")
    assert len(articles) == 2


def test_broken_feed_without_entries_is_one_reject_with_reason():
    articles, rejects = parse_feed(b"<rss><channel><title>x</title", "broken", FETCHED)
    assert articles == []
    assert rejects[0]["error"] in {"bad_feed", "empty_feed"} and rejects[0]["detail"]


def test_valid_feed_without_entries_is_empty_feed():
    data = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
    assert parse_feed(data, "e", FETCHED)[1][0]["error"] == "empty_feed"


@pytest.mark.parametrize(
    "data",
    [b"", b"   ", b"\x00\xff\xfe garbage", os.urandom(4096), b"<html><body><p>not a feed</p></body></html>", None],
)
def test_never_raises(data):
    articles, rejects = parse_feed(data, "x", FETCHED)
    assert articles or rejects


def test_bytes_that_look_like_a_path_are_not_opened(tmp_path):
    secret = tmp_path / "secret.xml"
    secret.write_bytes(RSS)
    articles, rejects = parse_feed(str(secret).encode(), "x", FETCHED)
    assert articles == [] and len(rejects) == 1


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>t</title>
<item><title>x</title><description>&lol9;</description></item></channel></rss>"""


def xxe_feed(target: str, parameter: bool = False) -> bytes:
    declaration = f'<!ENTITY % ext SYSTEM "{target}"> %ext;' if parameter else f'<!ENTITY ext SYSTEM "{target}">'
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [{declaration}]>'
        '<rss version="2.0"><channel><title>t</title>'
        "<item><title>x</title><description>&ext;</description></item></channel></rss>"
    ).encode()


def test_billion_laughs_is_rejected_quickly():
    started = time.monotonic()
    articles, rejects = parse_feed(BILLION_LAUGHS, "lol", FETCHED)
    assert time.monotonic() - started < 2
    assert articles == [] and rejects[0]["error"] == "unsafe_xml"
    assert "expands" in rejects[0]["detail"]


def test_billion_laughs_in_utf16_is_rejected():
    data = BILLION_LAUGHS.decode().replace('version="1.0"', 'version="1.0" encoding="utf-16"').encode("utf-16")
    assert parse_feed(data, "lol16", FETCHED)[1][0]["error"] == "unsafe_xml"


@pytest.mark.parametrize("parameter", [False, True])
def test_external_entities_are_rejected_and_never_read(tmp_path, parameter):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    articles, rejects = parse_feed(xxe_feed(secret.as_uri(), parameter), "xxe", FETCHED)
    assert articles == [] and rejects[0]["error"] == "unsafe_xml"
    assert "TOP-SECRET" not in repr(rejects)


def test_harmless_internal_entity_still_works():
    data = (
        b'<!DOCTYPE rss [<!ENTITY id "tag:example.com,">]><rss version="2.0"><channel>'
        b'<item><guid isPermaLink="false">&id;2006</guid><description>Body</description></item>'
        b"</channel></rss>"
    )
    articles, rejects = parse_feed(data, "ok", FETCHED)
    assert len(articles) == 1 and rejects == []


# --- internal entities: bounded by their expanded size -------------------------------


def entity_feed(value: str, uses: int, quote: str = '"') -> bytes:
    """One internal entity, each declaration on its own line (where feedparser keeps it)."""
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY e {quote}{value}{quote}>\n]>\n'
        '<rss version="2.0"><channel><title>t</title><item><title>x</title>'
        f"<description>{'&e;' * uses}</description></item></channel></rss>"
    ).encode()


def test_entity_used_too_often_is_rejected_before_parsing():
    # The measured case: a 40 KB file, one 10 KB entity used 10,000 times (100 M characters).
    data = entity_feed("word " * 2_000, 10_000)
    assert len(data) < 50_000
    started = time.monotonic()
    articles, rejects = parse_feed(data, "bomb", FETCHED)
    assert time.monotonic() - started < 1
    assert articles == [] and len(rejects) == 1
    assert (rejects[0]["stage"], rejects[0]["error"]) == ("parse", "entity_expansion")
    assert "100000000 characters" in rejects[0]["detail"]


def test_entity_expansion_under_the_cap_is_parsed():
    uses = MAX_ENTITY_EXPANSION // 10_000 - 1
    (article,), rejects = parse_feed(entity_feed("word " * 2_000, uses), "ok", FETCHED)
    assert rejects == [] and article["text"].count("word") == 2_000 * uses


def test_expansion_counts_value_times_references():
    assert entity_expansion(entity_feed("abc", 7).decode()) == 21
    # a character reference expands to one character
    assert entity_expansion(entity_feed("&#160;", 5).decode()) == 5
    # ">" inside the value does not end it; single quotes work too
    assert entity_expansion(entity_feed("a>bcd", 2, quote="'").decode()) == 10


def test_many_short_entity_uses_are_fine():  # &nbsp;, &copy; and friends, declared
    (article,), rejects = parse_feed(entity_feed("&#169;", 50_000), "copy", FETCHED)
    assert rejects == [] and article["text"] == "\u00a9" * 50_000


def test_entry_text_over_the_cap_is_rejected():
    text = "word " * (MAX_ENTRY_TEXT_CHARS // 5 + 1)
    data = (
        f'<rss version="2.0"><channel><item><title>huge</title><description>{text}</description></item>'
        "<item><title>small</title><description>fine</description></item></channel></rss>"
    ).encode()
    articles, rejects = parse_feed(data, "big", FETCHED)
    assert [a["title"] for a in articles] == ["small"]
    assert [(r["input"], r["error"]) for r in rejects] == [("big#0", "text_too_long")]


# --- links urllib cannot parse: a reject for that entry only -----------------------

BROKEN_LINKS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Links</title>
<item><title>Unclosed</title><link>http://[::1</link><description>One.</description></item>
<item><title>Not an address</title><link>http://[example]/x</link><description>Two.</description></item>
<item><title>Bad port</title><link>https://example.com:port/x</link><description>Three.</description></item>
<item><title>Guid only</title><guid>http://[::1/x</guid><description>Four.</description></item>
<item><title>Good</title><link>https://example.com/good</link><description>Five.</description></item>
<item><title>Relative</title><link>/relative</link><description>Six.</description></item>
</channel></rss>"""


def test_entries_with_unparseable_links_are_bad_url_rejects(tmp_path):
    feed_file = tmp_path / "links.xml"
    feed_file.write_bytes(BROKEN_LINKS)
    articles, rejects = parse_feed(feed_file.read_bytes(), str(feed_file), FETCHED)
    assert [a["url"] for a in articles] == ["https://example.com/good", "/relative"]
    assert [(r["input"].rsplit("#", 1)[1], r["stage"], r["error"]) for r in rejects] == [
        (str(n), "parse", "bad_url") for n in range(4)
    ]
    assert "http://[::1" in rejects[0]["detail"] and "Invalid IPv6 URL" in rejects[0]["detail"]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("2024-04-30T10:00:00", datetime(2024, 4, 30, 10, tzinfo=timezone.utc)),
        ("2024-04-30T12:00:00+02:00", datetime(2024, 4, 30, 10, tzinfo=timezone.utc)),
        ("Tue, 30 Apr 2024 10:00:00", datetime(2024, 4, 30, 10, tzinfo=timezone.utc)),
        ("yesterday-ish", None),
        ("", None),
    ],
)
def test_feed_date_strings_parse_to_utc(raw, expected):
    assert parse_datetime(raw) == expected


@pytest.mark.parametrize(
    "pub",
    [
        "30 Apr 2024 10:00",
        "2024-04-30",
        "Tuesday, April 30th 2024",
        "not a date at all",
        "Tue, 31 Feb 2024 25:61:00 GMT",
        "9999-12-31T23:59:59+14:00",
        "0000-00-00T00:00:00Z",
    ],
)
def test_odd_dates_are_utc_or_none(pub):
    data = (
        f'<rss version="2.0"><channel><item><title>t</title><pubDate>{pub}</pubDate>'
        f"<description>body</description></item></channel></rss>"
    ).encode()
    (article,), _ = parse_feed(data, "d", FETCHED)
    when = article["published_at"]
    assert when is None or (when.tzinfo is not None and when.utcoffset().total_seconds() == 0)


@pytest.mark.parametrize(
    "raw, expected",
    [("en-US", "en"), ("FR", "fr"), ("english", "en"), ("klingon", None), ("", None), (None, None), ("zh_Hant", "zh")],
)
def test_normalise_language(raw, expected):
    assert normalise_language(raw) == expected


def test_html_to_text_keeps_paragraphs_and_lines():
    html = "<div>One  two</div><p>Three<br>four</p><ul><li>a</li><li>b</li></ul><style>x{}</style>"
    assert html_to_text(html) == "One two\n\nThree\nfour\n\na\n\nb"


# Markup Python's HTMLParser gives up on (it raises AssertionError), as a feed carries it.
MARKUP_PARSER_GIVES_UP_ON = "<![<!doctype x [ y ]><!-- -->"


def test_html_to_text_keeps_the_text_before_markup_the_parser_gives_up_on():
    assert html_to_text("<p>Storm closes the bridge.</p><![bogus[x]]><p>Lost.</p>") == "Storm closes the bridge."


def test_markup_the_html_parser_gives_up_on_keeps_the_entry_and_is_counted():
    description = f"<p>Storm closes the bridge.</p>{MARKUP_PARSER_GIVES_UP_ON}"
    data = (
        '<rss version="2.0"><channel><item><title>Storm</title><link>https://example.com/storm</link>'
        f"<description><![CDATA[{description}]]></description></item></channel></rss>"
    ).encode()
    raw = {"input": "/in/storm.rss", "name": "storm.rss", "data": data, "fetched_at": FETCHED, "format": "feed"}
    pipeline = beam_pipeline()
    articles, rejects = pipeline | beam.Create([raw]) | Parse()
    # (feedparser's sanitizer repeats the paragraph before such markup; the markup itself never reaches the text)
    paragraphs = articles | beam.Map(lambda article: sorted(set(article["text"].split("\n\n"))))
    assert_that(paragraphs, equal_to([["Storm closes the bridge."]]))
    assert_that(rejects, equal_to([]), label="NoRejects")
    result = pipeline.run()
    result.wait_until_finish()
    assert counter_totals(result).get("feed_html_markup_errors") == 1


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=5,
)
DATE_LIKE_TEXT = st.text(alphabet="0123456789-+:TZ ,.JanFebMonGMTUTCday", max_size=40)


@settings(max_examples=300, deadline=None, database=None)
@given(JSON_VALUES | DATE_LIKE_TEXT)
def test_parse_datetime_never_raises_and_is_utc_or_none(value):
    # parse_datetime catches only ValueError and OverflowError: anything else here would raise.
    when = parse_datetime(value)
    assert when is None or when.utcoffset().total_seconds() == 0
