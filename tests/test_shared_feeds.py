"""feedparser's own well- and ill-formed test feeds through parse_feed: never a crash,
never silence, and only tz-aware UTC dates."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from transforms.ingest.feeds import parse_feed

SHARED_FEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "feeds"
NOT_FEEDS = {"LICENSE", "README.md"}
FETCHED = datetime(2024, 1, 1, tzinfo=timezone.utc)


def shared_feed_files():
    if not SHARED_FEEDS.is_dir():
        return []
    return sorted(p for p in SHARED_FEEDS.rglob("*") if p.is_file() and p.name not in NOT_FEEDS)


FILES = shared_feed_files()


@pytest.mark.skipif(not FILES, reason=f"shared feed corpus not found at {SHARED_FEEDS}")
@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SHARED_FEEDS)))
def test_shared_feed(path):
    articles, rejects = parse_feed(path.read_bytes(), str(path), FETCHED)
    assert articles or rejects, "every document must give an article or a reject"
    for article in articles:
        when = article["published_at"]
        assert when is None or (when.tzinfo is not None and when.utcoffset() == timedelta(0))
        assert article["text"].strip()
        assert isinstance(article["authors"], list)
        assert article["language"] is None or len(article["language"]) == 2
    for reject in rejects:
        assert reject["stage"] == "parse" and reject["error"]
