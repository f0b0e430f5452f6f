import re
import sys
import unicodedata
from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.tables import ARTICLES
from transforms.articles import (
    content_hash,
    finalize_article,
    fold_quotes,
    make_article_id,
    normalise_for_hash,
    word_count,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def parsed(**overrides):
    base = {
        "input": "/data/a.txt",
        "url": None,
        "source": None,
        "title": "T",
        "text": "Some body text.",
        "authors": [],
        "language": None,
        "published_at": None,
        "text_source": "file",
    }
    return {**base, **overrides}


def test_content_hash_folds_case_whitespace_quotes_and_unicode_forms():
    assert content_hash("“Hello”  World’s\n\nend") == content_hash('"hello" world\'s end')
    assert content_hash("ﬁne") == content_hash("fine")  # NFKC ligature
    assert content_hash("Hello world") != content_hash("Hello there world")


def test_every_character_str_split_breaks_on_is_one_regex_whitespace_matches():
    """normalise_for_hash collapses whitespace with str.split(), not re.sub(r"\\s+"):
    the two must agree on every code point, or stored content hashes would change."""
    space = re.compile(r"\s")
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        assert char.isspace() == bool(space.match(char)), hex(code)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from([" ", "  ", "\n\n", "\t", "\r\n", "\u00a0", "\u2003", "\u3000", "\x1c", "\x85", "\u2028"]),
            st.sampled_from(["\u201cQuoted\u201d", "ﬁne", "Straße", "—", "İ", "x"]),
            st.text(max_size=6),
        ),
        max_size=15,
    ).map("".join)
)
def test_normalise_for_hash_is_the_regex_one(text):
    """The content hash stored by earlier runs was of this normalisation, by regex."""
    folded = fold_quotes(unicodedata.normalize("NFKC", text).casefold())
    assert normalise_for_hash(text) == re.sub(r"\s+", " ", folded).strip()


def test_article_id_is_stable_and_depends_on_identity_and_content():
    h = content_hash("x")
    assert make_article_id(None, "/a/b/file.txt", h) == make_article_id(None, "/other/file.txt", h)
    assert make_article_id(None, "/a/file.txt", h) != make_article_id(None, "/a/other.txt", h)
    assert make_article_id("https://ex.com/a", "f", h) != make_article_id("https://ex.com/a", "f", content_hash("y"))


def test_finalize_fills_every_column_and_flags_unknown_dates():
    row = finalize_article(parsed(), "run1", NOW)
    assert set(ARTICLES.column_names) <= set(row)
    assert row["published_at"] == NOW and row["date_inferred"] is True
    assert row["date"] == "2026-11-28" and row["source"] == "a.txt" and row["word_count"] == 3


def test_finalize_converts_published_to_utc_and_partitions_by_it():
    from datetime import timedelta

    published = datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    row = finalize_article(parsed(published_at=published, url="https://www.ex.com/x?utm_source=a"), "r", NOW)
    assert row["published_at"] == datetime(2026, 3, 2, 4, 30, tzinfo=timezone.utc)
    assert row["date"] == "2026-03-02" and row["date_inferred"] is False
    assert row["canonical_url"] == "https://ex.com/x" and row["source"] == "www.ex.com"


def test_word_count():
    assert word_count("It's a 5-word text") == 6 and word_count("") == 0


def test_finalize_takes_a_url_urlsplit_rejects():
    """Was: source_name called urlsplit("http://[").hostname, which raises ValueError."""
    row = finalize_article(parsed(url="http://[broken"), "r", NOW)
    assert row["url"] == "http://[broken" and row["canonical_url"] is None and row["source"] == "http://[broken"


def test_partition_date_is_zero_padded_for_early_years():
    """Was: strftime("%Y") writes year 1 as "1", an unparseable date partition."""
    from transforms.articles import partition_date

    assert partition_date(datetime(1, 2, 3, tzinfo=timezone.utc)) == "0001-02-03"
    row = finalize_article(parsed(published_at=datetime(999, 12, 31, 23, 0, tzinfo=timezone.utc)), "r", NOW)
    assert row["date"] == "0999-12-31" and row["date_inferred"] is False


def test_finalize_treats_a_non_datetime_published_at_as_unknown():
    row = finalize_article(parsed(published_at="2026-01-01"), "r", NOW)
    assert row["published_at"] == NOW and row["date_inferred"] is True


def test_parse_datetime_never_raises():
    from transforms.ingest.timeparse import parse_datetime

    class Hostile:
        def __str__(self):
            raise RuntimeError("no text")

    for value in (
        Hostile(),
        "\ud800",
        float("nan"),
        float("inf"),
        10**5000,
        "9999-12-31T23:59:59-01:00",
        "Mon, 32 Foo 99999 99:99:99 +9999",
        [1, 2],
        {"a": 1},
    ):
        assert parse_datetime(value) is None, value
