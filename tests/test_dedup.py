from datetime import datetime, timezone

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to
from conftest import MULTI_WORKER_ARGS, beam_pipeline

from transforms.articles import content_hash
from transforms.dedup.decide import (
    ApplyDecisions,
    CompactDecisions,
    Decisions,
    DecisionsFn,
    Deduplicate,
    decision,
    split_revisions,
    split_winner,
    winner_order,
    with_decision,
)
from transforms.dedup.near_duplicates import article_key, signature_row
from transforms.dedup.pending import read_pending

STORY = (
    "The harbour board voted on Tuesday to extend the northern quay by two hundred metres, "
    "a project that has been discussed for a decade and will cost about forty million euros. "
    "Supporters say the longer quay will let larger container ships dock without waiting offshore, "
    "while fishermen fear that the works will disturb the spawning grounds near the breakwater. "
    "The board's chair said construction could begin next spring if the environmental review "
    "raises no serious objections, and that local firms would be preferred for the contracts."
)
OTHER = (
    "A new bus line will link the university campus with the central station from September, "
    "the transport authority announced, after students complained for years about crowded trams. "
    "Buses will run every ten minutes at peak times and every twenty minutes in the evening, and "
    "the fare will be the same as on the existing network, with discounts for students and seniors."
)


def row(article_id, published_day=1, text=STORY, url=None, input_name=None):
    return {
        "article_id": article_id,
        "published_at": datetime(2026, 3, published_day, tzinfo=timezone.utc),
        "text": text,
        "content_hash": content_hash(text),
        "canonical_url": url,
        "word_count": 10,
        "input": input_name or f"/in/{article_id}",
        "duplicate_of": None,
        "duplicate_reason": None,
        "revision_of": None,
        "date": f"2026-03-{published_day:02d}",
    }


def test_winner_is_earliest_then_longest_then_smallest_id():
    rows = [row("b", 2), row("c", 1, text="short"), row("d", 1, text="longer text"), row("a", 1, text="longer text")]
    assert [r["article_id"] for r in sorted(rows, key=winner_order)] == ["a", "d", "c", "b"]
    winners, dups = split_winner(rows, [], "content")
    assert [w["article_id"] for w in winners] == ["a"]
    assert {(d["article_id"], d["duplicate_of"], d["duplicate_reason"]) for d in dups} == {
        ("b", "a", "content"),
        ("c", "a", "content"),
        ("d", "a", "content"),
    }


def test_a_stored_row_always_wins():
    winners, dups = split_winner([row("a", 1)], [{"article_id": "z", "published_at": None, "text_length": 1}], "url")
    assert winners == [] and dups[0]["duplicate_of"] == "z"


def test_a_stored_signature_never_wins_over_the_article_with_its_own_id():
    """Its signature stored without its article (files lost): the article is written
    again as a winner, not as a copy of itself."""
    own = {"article_id": "a", "published_at": None, "text_length": 1}
    assert split_winner([row("a", 1)], [own], "content") == ([row("a", 1)], [])
    stored = signature_row(row("a", 1))
    winners, dups = split_revisions([article_key(row("a", 1))], [stored], 0.75)
    assert dups == [] and [(w["article_id"], w.get("revision_of")) for w in winners] == [("a", None)]


def test_same_url_small_edit_is_duplicate_and_rewrite_is_revision():
    edited = STORY.replace("forty million", "forty-two million")
    rewritten = OTHER + " The harbour board will meet again in May."
    keys = [article_key(r) for r in (row("v2", 2, edited), row("v1", 1), row("v3", 3, rewritten))]
    winners, dups = split_revisions(keys, [], 0.75)
    assert [(w["article_id"], w["revision_of"]) for w in winners] == [("v1", None), ("v3", "v1")]
    assert [(d["article_id"], d["duplicate_of"], d["duplicate_reason"]) for d in dups] == [("v2", "v1", "url")]


def test_revision_of_a_stored_version():
    stored = signature_row(row("old", 1))
    winners, dups = split_revisions([article_key(row("new", 2, OTHER))], [stored], 0.75)
    assert dups == [] and winners[0]["revision_of"] == "old"


def test_deduplicate_every_reason_on_two_workers(tmp_path):
    syndicated = "(Wire) — " + STORY + " Read more: our full coverage of the region."
    articles = [
        row("a1", 1),
        row("a2", 2),  # same content: a1 wins
        row("n1", 3, syndicated),  # near-duplicate of a1
        row("b1", 3, OTHER + " One.", url="https://ex.com/b"),
        row("b2", 1, OTHER + " Two.", url="https://ex.com/b"),  # same URL, tiny edit: b2 wins
        row("c1", 1, "Unique story c."),
        row("c1", 1, "Unique story c.", input_name="/copy/c1"),
        row("s1", 1, "Stored story s."),  # id stored already
        row("t1", 1, "Stored story t."),  # content stored already
    ]
    stored_ids = [{"article_id": "s1"}, {"article_id": "old-t"}]
    stored_sigs = [signature_row(row("old-t", 1, "Stored story t."))]
    expected = dict(
        winners=["a1", "b2", "c1"],
        duplicates=[("a2", "a1", "content"), ("n1", "a1", "near"), ("b1", "b2", "url"), ("t1", "old-t", "content")],
        skipped=[("c1", "same_article"), ("s1", "already_ingested")],
    )
    with beam_pipeline(*MULTI_WORKER_ARGS) as p:
        winners, duplicates, skipped, pending = (
            p
            | "Articles" >> beam.Create(articles)
            | "Keys" >> beam.Map(article_key)
            | Deduplicate(
                p | "Ids" >> beam.Create(stored_ids), p | "Sigs" >> beam.Create(stored_sigs), str(tmp_path / "pending")
            )
        )
        assert_that(
            winners | "WinnerIds" >> beam.Map(lambda r: r["article_id"]), equal_to(expected["winners"]), label="winners"
        )
        assert_that(
            duplicates | "DupIds" >> beam.Map(lambda r: (r["article_id"], r["duplicate_of"], r["duplicate_reason"])),
            equal_to(expected["duplicates"]),
            label="duplicates",
        )
        assert_that(
            skipped | "SkippedIds" >> beam.Map(lambda r: (r["article_id"], r["duplicate_reason"])),
            equal_to(expected["skipped"]),
            label="skipped",
        )
        # every article's signature waits in the pending files, none of them in the rows
        assert_that(
            pending | "PendingRows" >> beam.Map(lambda path: read_pending(path).num_rows) | beam.CombineGlobally(sum),
            equal_to([len(articles)]),
            label="pending",
        )
        assert_that(
            (winners, duplicates) | beam.Flatten() | beam.Map(lambda r: "sketch" in r or "minhash" in r),
            equal_to([False] * 7),
            label="slim",
        )


def test_key_rows_carry_no_text_and_decisions_restore_the_articles():
    articles = [row("w", 1), row("d", 2), row("s", 3)]
    keys = [article_key(a) for a in articles]
    assert all("text" not in k and k["text_length"] == len(STORY) for k in keys)
    winner = keys[0]
    duplicate = {**keys[1], "duplicate_of": "w", "duplicate_reason": "content"}
    decisions = dict(decision(k) for k in (winner, duplicate))  # "s" was skipped: no decision
    written = [out for a in articles for out in with_decision(a, decisions)]
    assert [(a["article_id"], a["duplicate_of"], a["text"] == STORY) for a in written] == [
        ("w", None, True),
        ("d", "w", True),
    ]
    changed = {**articles[0], "article_id": "w-edited"}  # the file changed between the passes
    (reject,) = list(with_decision(changed, decisions))
    assert reject.tag == "changed" and (reject.value["stage"], reject.value["error"]) == ("read", "changed_during_run")
    assert "w-edited" in reject.value["detail"]


def test_compact_decisions_answer_as_the_plain_dict():
    """Plain winners are kept as digests and 8-byte ids (ids with trailing zero bytes
    too); duplicates, revisions and ids that are not 16 hex digits in the dict; a
    merge of partial Decisions answers like one built at once."""
    pairs = [
        ("a.json#1", ("0123456789abcd00", None, None, None)),
        ("a.json#2", ("00000000000000ff", "0123456789abcd00", "near", None)),
        ("b.txt", ("fedcba9876543210", None, None, "0123456789abcd00")),
        ("c.txt", ("not-hex", None, None, None)),
        *[(f"many/{n}.txt", (f"{n:016x}", None, None, None)) for n in range(200)],
    ]
    expected = dict(pairs)
    fn = DecisionsFn()
    halves = [fn.add_input(fn.create_accumulator(), pair) for pair in pairs[::2]]
    halves += [fn.add_input(fn.create_accumulator(), pair) for pair in pairs[1::2]]
    for decisions in (Decisions.build(pairs), fn.extract_output(fn.merge_accumulators(halves))):
        assert {name: decisions.get(name) for name in expected} == expected
        assert decisions.get("never-read.txt") is None and len(decisions) == len(pairs)
        assert len(decisions.others) == 3  # the duplicate, the revision, the non-hex id
    assert Decisions.build([]).get("x") is None


def test_apply_decisions_in_a_pipeline():
    articles = [row("w", 1), row("d", 2), row("s", 3)]
    keys = [article_key(a) for a in articles]
    with beam_pipeline() as p:
        winners = p | "Winners" >> beam.Create([keys[0]])
        duplicates = p | "Duplicates" >> beam.Create([{**keys[1], "duplicate_of": "w", "duplicate_reason": "near"}])
        decisions = (winners, duplicates) | CompactDecisions()
        written, changed = p | "Articles" >> beam.Create(articles) | ApplyDecisions(decisions)
        assert_that(
            written | beam.Map(lambda a: (a["article_id"], a["duplicate_of"], len(a["text"]))),
            equal_to([("w", None, len(STORY)), ("d", "w", len(STORY))]),
        )
        assert_that(changed, equal_to([]), label="nothing changed")
