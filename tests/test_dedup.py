from datetime import datetime, timezone

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from conftest import MULTI_WORKER_ARGS, beam_pipeline
from transforms.dedup import Deduplicate, split_winner, winner_order


def row(article_id, published_day=1, words=100, content="h1", url=None, input_name=None, duplicate_of=None):
    return {"article_id": article_id, "published_at": datetime(2026, 3, published_day, tzinfo=timezone.utc),
            "word_count": words, "content_hash": content, "canonical_url": url,
            "input": input_name or f"/in/{article_id}", "duplicate_of": duplicate_of,
            "duplicate_reason": None}


def test_winner_is_earliest_then_longest_then_smallest_id():
    rows = [row("b", 2), row("c", 1, words=50), row("d", 1, words=80), row("a", 1, words=80)]
    assert [r["article_id"] for r in sorted(rows, key=winner_order)] == ["a", "d", "c", "b"]
    winners, dups = split_winner(rows, [], "content")
    assert [w["article_id"] for w in winners] == ["a"]
    assert {(d["article_id"], d["duplicate_of"], d["duplicate_reason"]) for d in dups} == {
        ("b", "a", "content"), ("c", "a", "content"), ("d", "a", "content")}


def test_a_stored_row_always_wins():
    winners, dups = split_winner([row("a", 1)], [row("z", 9)], "url")
    assert winners == [] and dups[0]["duplicate_of"] == "z"


def check_dedup(articles, stored, expected, *args):
    with beam_pipeline(*args) as p:
        winners, duplicates, skipped = (
            p | "Articles" >> beam.Create(articles)
            | Deduplicate(p | "Stored" >> beam.Create(stored)))
        assert_that(winners | "WinnerIds" >> beam.Map(lambda r: r["article_id"]),
                    equal_to(expected["winners"]), label="winners")
        assert_that(duplicates | "DupIds" >> beam.Map(
            lambda r: (r["article_id"], r["duplicate_of"], r["duplicate_reason"])),
            equal_to(expected["duplicates"]), label="duplicates")
        assert_that(skipped | "SkippedIds" >> beam.Map(lambda r: (r["article_id"], r["duplicate_reason"])),
                    equal_to(expected["skipped"]), label="skipped")


def test_deduplicate_by_content_url_and_stored_keys_on_two_workers():
    articles = [
        row("a1", 1, content="h1"), row("a2", 2, content="h1"),             # same content: a1 wins
        row("b1", 3, content="h2", url="https://ex.com/b"),
        row("b2", 1, content="h3", url="https://ex.com/b"),                 # same URL: b2 (earlier) wins
        row("c1", 1, content="h4"), row("c1", 1, content="h4", input_name="/copy/c1"),  # same id twice
        row("s1", 1, content="h5"),                                          # stored already
        row("t1", 1, content="h6"),                                          # same content as a stored row
        row("u1", 1, content="h7", url="https://ex.com/u"),                  # same URL as a stored row
    ]
    stored = [row("s1", 1, content="h5"), row("old", 5, content="h6"),
              row("oldu", 5, content="h99", url="https://ex.com/u"),
              row("olddup", 5, content="h7", duplicate_of="x")]               # stored duplicates never win
    expected = dict(
        winners=["a1", "b2", "c1"],
        duplicates=[("a2", "a1", "content"), ("b1", "b2", "url"), ("t1", "old", "content"),
                    ("u1", "oldu", "url")],
        skipped=[("c1", "same_article"), ("s1", "already_ingested")])
    check_dedup(articles, stored, expected, *MULTI_WORKER_ARGS)
