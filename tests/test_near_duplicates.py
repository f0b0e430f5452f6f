import random
import re
import subprocess
import sys
import unicodedata
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.dedup import near_duplicates as nd

T0 = datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
_rng = random.Random(1234)
VOCAB = sorted(
    {
        "".join(_rng.choice("bcdfghklmnprstvz") + _rng.choice("aeiou") for _ in range(_rng.randint(2, 4)))
        for _ in range(6000)
    }
)


def paragraphs(seed, n=8, words=45):
    rng = random.Random(seed)
    return [" ".join(rng.choice(VOCAB) for _ in range(words)).capitalize() + "." for _ in range(n)]


def article(aid, paras, minutes=0, **kw):
    text = "\n".join(paras)
    return dict(
        {
            "article_id": aid,
            "text": text,
            "published_at": T0 + timedelta(minutes=minutes),
            "word_count": len(text.split()),
            "duplicate_of": None,
            "duplicate_reason": None,
        },
        **kw,
    )


def sim(a, b):
    ha, hb = nd.shingle_hashes(a), nd.shingle_hashes(b)
    return nd.similarity(ha, 0, len(ha), hb, 0, len(hb))


# --- normalisation --------------------------------------------------------


@pytest.mark.parametrize(
    "noise",
    [
        "By Jane Doe",
        "By JANE DOE and John Roe, Associated Press",
        "Read more: Other story",
        "READ MORE:",
        "Related: something else",
        "Share this article",
        "Share on Facebook",
        "Sign up for our newsletter to get the latest news.",
        "Copyright 2024 The Associated Press.",
        "© 2024 Reuters. All rights reserved.",
        "Advertisement",
        "Follow us on Twitter",
        "This article originally appeared on example.com.",
        "Updated March 3, 2024 10:00 ET",
        "Additional reporting by A; editing by B",
        "Jane Doe contributed to this report.",
        "Photo: John Roe / Getty Images",
    ],
)
def test_boilerplate_lines_stripped(noise):
    body = "The council voted on the budget.\nThe mayor said it was fair."
    assert nd.strip_boilerplate(noise + "\n" + body) == body
    assert nd.strip_boilerplate(body + "\n" + noise) == body


@pytest.mark.parametrize(
    "credit",
    [
        "WASHINGTON (AP) — ",
        "LONDON, March 3 (Reuters) - ",
        "Reuters - ",
        "(AFP) - ",
        "NEW YORK -- ",
        "AP — ",
    ],
)
def test_wire_credits_and_datelines_stripped(credit):
    assert nd.strip_boilerplate(credit + "The council voted.") == "The council voted."


def test_long_paragraph_starting_like_boilerplate_is_kept():
    text = "By the end of the year " + " ".join(VOCAB[:60])
    assert nd.strip_boilerplate(text) == text


def strip_boilerplate_by_counting_words(text):
    """strip_boilerplate as first written: every word of every line counted (the oracle
    for the faster one, whose output signatures and band keys stored by earlier runs
    depend on)."""
    if not text:
        return ""
    text = nd._fold_quotes(unicodedata.normalize("NFKC", text))
    has_sentences = any(trigger in text.lower() for trigger in nd._SENTENCE_TRIGGERS)
    kept = []
    for line in re.split(r"\n+", text):
        line = line.strip()
        words = len(nd._WORD.findall(line))
        if words == 0 or (words <= nd._MAX_BOILERPLATE_WORDS and nd._BOILERPLATE_LINE.match(line)):
            continue
        line = nd._CAPS_DATELINE.sub("", nd._DATELINE.sub("", line, count=1), count=1)
        if has_sentences:
            line = nd._BOILERPLATE_SENTENCE.sub(" ", line)
        if nd._WORD.search(line):
            kept.append(line)
    return "\n".join(kept)


# Pieces of news text around the limits strip_boilerplate decides on: furniture that
# starts a line, word characters that are not letters, every kind of line break and space.
BOILERPLATE_PIECES = st.sampled_from(
    ["By ", "Read more", "Copyright", "Share this", "Reuters - ", "WASHINGTON (AP) — ", "Photo: ", "\n", "\n\n"]
    + [" ", "\t", "\r", "\u00a0", "\u2003", "\u2028", "\x1c", "\x85", "_", "1", "\u00b2", "\u0663", "-", ".", "\u201c"]
)
# A furniture line of about _MAX_BOILERPLATE_WORDS words: dropped at the limit, kept past it.
LINES_AT_THE_LIMIT = st.builds(
    lambda start, n, word, gap: start + gap.join([word] * n),
    st.sampled_from(["By ", "Read more ", "Copyright ", "Related: ", "Share "]),
    st.integers(nd._MAX_BOILERPLATE_WORDS - 3, nd._MAX_BOILERPLATE_WORDS + 2),
    st.sampled_from(["w", "é", "x1", "a_b"]),
    st.sampled_from([" ", "-", "_ ", ", "]),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(BOILERPLATE_PIECES, LINES_AT_THE_LIMIT, st.text(max_size=8)), max_size=12).map("".join))
def test_strip_boilerplate_is_the_word_counting_one(text):
    assert nd.strip_boilerplate(text) == strip_boilerplate_by_counting_words(text)


def test_normalize_folds_case_quotes_and_paragraphs():
    a = nd.normalize_for_shingling("He said: \u201cIt\u2019s   DONE.\u201d\n\nNext")
    b = nd.normalize_for_shingling('he said "it\'s done" next')
    assert a == b == "he said it s done next"


def test_shingles():
    assert nd.shingles("a b c d e f", k=5) == {("a", "b", "c", "d", "e"), ("b", "c", "d", "e", "f")}
    assert nd.shingles("a b", k=5) == {("a", "b")}
    assert nd.shingles("") == set()
    assert len(nd.shingle_hashes("a b c d e f")) == 2


# --- hashing is stable ----------------------------------------------------

GOLDEN_TEXT = "The quick brown fox jumps over the lazy dog near the river bank today."


def test_hashes_are_stable_across_processes():
    code = (
        "from transforms.dedup import near_duplicates as nd;"
        f"h = nd.shingle_hashes({GOLDEN_TEXT!r});"
        "print(h.tolist(), nd.minhash(h)[:8].tolist(), nd.band_keys(nd.minhash(h))[:3])"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={"PYTHONHASHSEED": seed, "PYTHONPATH": "."},
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outs) == 1
    h = nd.shingle_hashes(GOLDEN_TEXT)
    here = f"{h.tolist()} {nd.minhash(h)[:8].tolist()} {nd.band_keys(nd.minhash(h))[:3]}\n"
    assert outs == {here}


def test_minhash_estimates_jaccard():
    a = nd.shingle_hashes("\n".join(paragraphs(1, 10)))
    b = nd.shingle_hashes("\n".join(paragraphs(1, 10)[:5] + paragraphs(2, 5)))
    true_j = len(np.intersect1d(a, b)) / len(np.union1d(a, b))
    est = float(np.mean(nd.minhash(a) == nd.minhash(b)))
    assert abs(est - true_j) < 0.12
    assert nd.minhash(a).dtype == np.uint32 and len(nd.minhash(a)) == nd.NUM_PERM


def test_band_keys_shared_iff_band_equal():
    sig = nd.minhash(nd.shingle_hashes(GOLDEN_TEXT))
    other = sig.copy()
    other[0] += 1  # changes band 0 only
    ka, kb = nd.band_keys(sig), nd.band_keys(other)
    assert len(ka) == nd.BANDS and ka[0] != kb[0] and ka[1:] == kb[1:]
    assert len(set(nd.band_keys(np.zeros(nd.NUM_PERM, np.uint32)))) == nd.BANDS  # band index in key


def test_candidate_probability_curve():
    # 42 bands of 3 rows: near-duplicates (Jaccard >= 0.5) almost always meet,
    # unrelated texts (Jaccard <= 0.1) almost never do
    assert nd.candidate_probability(0.5) > 0.99
    assert nd.candidate_probability(0.35) > 0.8
    assert nd.candidate_probability(0.1) < 0.05


# --- verification ---------------------------------------------------------

BASE = paragraphs(10, 10)


def test_identical_and_boilerplate_variants_match():
    copy = (
        ["By Jane Doe", "WASHINGTON (AP) — " + BASE[0]]
        + BASE[1:]
        + ["Read more: other things", "Sign up for our newsletter.", "Copyright 2024 AP."]
    )
    j, c = sim("\n".join(BASE), "\n".join(copy))
    assert j == 1.0 and c == 1.0


def test_trimmed_copy_is_contained():
    j, c = sim("\n".join(BASE), "\n".join(BASE[:6]))
    assert c == 1.0 and j < 0.7
    assert nd.is_near_duplicate(j, c)


def test_reled_reflowed_edited_copy_matches():
    copy = [paragraphs(99, 1)[0]] + [" ".join(BASE[1:3])] + BASE[3:9]
    words = "\n".join(copy).split(" ")
    for i in (10, 100, 200):
        words[i] = "edited"
    j, c = sim("\n".join(BASE), " ".join(words))
    assert nd.is_near_duplicate(j, c), (j, c)


def test_different_stories_same_event_do_not_match():
    shared = "Minister Alda Korvin said the Brenna bridge would reopen on Monday after repairs."
    a = [shared] + paragraphs(20, 7)
    b = paragraphs(21, 7) + [shared]
    j, c = sim("\n".join(a), "\n".join(b))
    assert not nd.is_near_duplicate(j, c), (j, c)


def test_follow_up_reusing_background_does_not_match():
    follow_up = paragraphs(30, 6) + BASE[4:7]  # new reporting + 3 background paragraphs
    j, c = sim("\n".join(BASE), "\n".join(follow_up))
    assert not nd.is_near_duplicate(j, c), (j, c)


def test_short_brief_cut_from_long_story_needs_min_jaccard():
    long = paragraphs(40, 30)
    j, c = sim("\n".join(long), long[0])
    assert c == 1.0 and not nd.is_near_duplicate(j, c)


def test_sketch_is_consistent_sample_and_estimates():
    a = nd.shingle_hashes("\n".join(paragraphs(50, 40)))
    b = nd.shingle_hashes("\n".join(paragraphs(50, 40)[:30]))
    level, sk = nd.sketch(a, max_size=512)
    assert level >= 1 and len(sk) <= 512 and np.all(sk < (1 << 32) >> level)
    assert np.array_equal(sk, a[a < (1 << 32) >> level])
    exact = nd.similarity(a, 0, len(a), b, 0, len(b))
    est = nd.similarity(sk, level, len(a), b, 0, len(b))
    assert abs(est[1] - exact[1]) < 0.08 and abs(est[0] - exact[0]) < 0.08
    assert nd.sketch(b[:100])[0] == 0


def test_verify_records():
    a = nd.record_from_article(article("a", BASE))
    b = nd.record_from_article(article("b", BASE[:7]))
    c = nd.record_from_article(article("c", paragraphs(11, 8)))
    assert nd.verify(a, b) and not nd.verify(a, c) and not nd.verify(a, a)
    assert nd.record_from_article(article("tiny", ["too short"])) is None


# --- winners and components -----------------------------------------------


def meta(aid, existing=False, minutes=0, length=100):
    return (aid, existing, (T0 + timedelta(minutes=minutes)).timestamp(), length)


def test_winner_earliest_then_longest_then_smallest_id():
    assert nd.choose_winner([meta("b", minutes=5), meta("c", minutes=1)])[0] == "c"
    assert nd.choose_winner([meta("b", length=50), meta("c", length=80)])[0] == "c"
    assert nd.choose_winner([meta("c"), meta("b")])[0] == "b"
    assert nd.choose_winner([meta("a", minutes=-60), meta("z", existing=True, minutes=60)])[0] == "z"
    assert nd.winner_key(("x", False, float("inf"), 5)) > nd.winner_key(meta("y", minutes=10**6))


def test_connected_components():
    comps = nd.connected_components([("a", "b"), ("c", "b"), ("x", "y"), ("d", "c")])
    assert comps == [["a", "b", "c", "d"], ["x", "y"]]


def test_resolve_winners_transitive_and_existing_never_loses():
    edges = [(meta("b", minutes=2), meta("a", minutes=3)), (meta("a", minutes=3), meta("c", minutes=1))]
    assert nd.resolve_winners(edges) == {"a": "c", "b": "c"}
    edges = [
        (meta("new", minutes=0), meta("old", existing=True, minutes=99)),
        (meta("old", existing=True, minutes=99), meta("old2", existing=True, minutes=1)),
    ]
    assert nd.resolve_winners(edges) == {"new": "old2"}


def test_bucket_pairs():
    assert list(nd.bucket_pairs([("b", False), ("a", False), ("c", True)])) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert list(nd.bucket_pairs([("a", True), ("b", True)])) == []
    big = [(f"id{i:04d}", False) for i in range(500)]
    pairs = list(nd.bucket_pairs(big, max_bucket=100, window=5))
    assert len(pairs) < 500 * 5 and nd.connected_components(pairs) == [sorted(i for i, _ in big)]


# --- the pure path ----------------------------------------------------------


def corpus():
    other = paragraphs(60, 9)
    return [
        article("orig", BASE, minutes=10),
        article("copy1", ["By Jane Doe", "LONDON (Reuters) - " + BASE[0]] + BASE[1:] + ["Read more: x"], minutes=5),
        article("copy2", BASE[:7], minutes=5),  # same time, shorter -> loses to copy1
        article("other", other, minutes=0),
        article("other_copy", other[:8] + ["Copyright 2024 Example News."], minutes=30),
        article("followup", paragraphs(31, 6) + BASE[2:5], minutes=40),
        article("unrelated", paragraphs(70, 8), minutes=1),
    ]


EXPECTED = {"orig": "copy1", "copy2": "copy1", "other_copy": "other"}


def test_find_near_duplicates():
    assert nd.find_near_duplicates(corpus()) == EXPECTED


def test_find_near_duplicates_against_existing_signatures():
    arts = corpus()
    stored = [nd.signature_row(a, run_id="r0") for a in arts if a["article_id"] == "orig"]
    new = [dict(a, article_id=a["article_id"] + "_new") for a in arts if a["article_id"] != "orig"]
    got = nd.find_near_duplicates(new, existing=stored)
    assert got == {"copy1_new": "orig", "copy2_new": "orig", "other_copy_new": "other_new"}


def test_signature_row_matches_schema():
    import pyarrow as pa

    from schemas.tables import SIGNATURES

    row = nd.signature_row(article("a", paragraphs(80, 60)), run_id="r1")
    assert set(row) == set(SIGNATURES.column_names)
    assert row["date"] == "2024-03-01" and row["sketch_level"] >= 1
    pa.Table.from_pylist([row], schema=SIGNATURES.schema)
    assert nd.record_from_signature(dict(row, signature_version=0)) is None
    assert nd.signature_band_keys(row) == row["band_keys"]
    assert nd.signature_band_keys(row, bands=21) == nd.band_keys(np.array(row["minhash"], np.uint32), 21)


# --- Beam -----------------------------------------------------------------


def _marks(arts):
    return sorted((a["article_id"], a["duplicate_of"], a["duplicate_reason"]) for a in arts)


def _expected_marks(arts, decisions):
    return sorted(
        (a["article_id"], decisions.get(a["article_id"]), "near" if a["article_id"] in decisions else None)
        for a in arts
    )


def _beam_marks(new_articles, stored_rows, tmp_path, options=(), with_new_keys=False):
    """Deduplicate's near-duplicate marks for new articles (and stored signatures);
    with_new_keys: each step takes the stored rows sharing its key (stored.NewKeys)."""
    beam = pytest.importorskip("apache_beam")
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from transforms.dedup.decide import Deduplicate
    from transforms.dedup.stored import NewKeysOf

    def check(expected):
        with TestPipeline(runner="DirectRunner", options=PipelineOptions(list(options))) as p:
            keys = p | "New" >> beam.Create(new_articles) | "Keys" >> beam.Map(nd.article_key)
            new_keys = keys | "NewKeys" >> NewKeysOf() if with_new_keys else None
            winners, duplicates, _, _ = keys | Deduplicate(
                p | "Ids" >> beam.Create([{"article_id": r["article_id"]} for r in stored_rows]),
                p | "Existing" >> beam.Create(stored_rows),
                str(tmp_path / "pending"),
                new_keys=new_keys,
            )
            out = (
                (winners, duplicates)
                | beam.Flatten()
                | beam.Map(lambda a: (a["article_id"], a["duplicate_of"], a["duplicate_reason"]))
            )
            assert_that(out, equal_to(expected))

    return check


def test_beam_multi_worker(tmp_path):
    arts = corpus()
    check = _beam_marks(arts, [], tmp_path, ["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    check(_expected_marks(arts, EXPECTED))


def test_beam_with_existing_signatures(tmp_path):
    arts = corpus()
    stored = [nd.signature_row(a, run_id="r0") for a in arts if a["article_id"] in ("orig", "unrelated")]
    new = [a for a in arts if a["article_id"] not in ("orig", "unrelated")]
    # a stored article that is later than the new copies still wins
    expected = {"copy1": "orig", "copy2": "orig", "other_copy": "other"}
    _beam_marks(new, stored, tmp_path)(_expected_marks(new, expected))


def test_beam_steps_take_the_stored_rows_sharing_their_keys(tmp_path):
    """With NewKeys each step takes only the stored rows sharing its key with a new
    article (band keys filtered where they are packed): the same marks."""
    arts = corpus()
    stored_arts = [a for a in arts if a["article_id"] in ("orig", "unrelated")]
    stored_arts += [article(f"s{n}", paragraphs(400 + n, 8)) for n in range(8)]
    stored = [nd.signature_row(a, run_id="r0") for a in stored_arts]
    new = [a for a in arts if a["article_id"] not in ("orig", "unrelated")]
    expected = {"copy1": "orig", "copy2": "orig", "other_copy": "other"}
    _beam_marks(new, stored, tmp_path, with_new_keys=True)(_expected_marks(new, expected))


def test_compact_signature_keeps_what_matching_needs():
    row = nd.signature_row(article("a", paragraphs(80, 60)), run_id="r1")
    compact = nd.compact_signature(row)
    assert isinstance(compact["sketch"], bytes) and len(compact["sketch"]) == 4 * len(row["sketch"])
    assert nd.record_from_signature(compact) == nd.record_from_signature(row)
    assert nd.signature_band_keys({**compact, "band_keys": None}) == row["band_keys"]


# --- Packed band blocks (what the Beam path shuffles) -------------------------


def _members_of(rows, existing=False):
    return [(row["article_id"], existing, nd.signature_band_keys(row)) for row in rows]


def test_band_blocks_round_trip_hex_and_text_ids():
    keys = np.array([5, -7, 2**62 + 3], dtype=np.int64)
    for ids in (["00000000000000a0", "ffffffffffffffff", "0123456789abcdef"], ["orig", "a longer id", "é"]):
        members = [(i, n == 1, keys + n) for n, i in enumerate(ids)]
        seen = set()
        for shard, packed in nd.band_blocks(members, shards=4):
            block = nd.BandBlock.unpack(packed)
            assert all(int(k) % 4 == shard for k in block.keys.view(np.uint64))
            seen |= {(int(k), *block.member(j)) for j, k in enumerate(block.keys)}
        # every (key, member) comes back once, ids with trailing zero bytes included
        assert seen == {(int(k) + n, i, n == 1) for n, i in enumerate(ids) for k in keys}


def test_shard_candidates_are_the_in_memory_candidates():
    """Packed shards give the pairs the reference path (find_near_duplicates) compares,
    and the largest bucket: a syndicated story in 5 copies fills buckets of 5."""
    arts = corpus() + [article(f"{n:016x}", BASE, minutes=n) for n in range(5)]
    rows = [nd.article_key(a) for a in arts]
    blocks = {}
    for shard, packed in nd.band_blocks(_members_of(rows), shards=3):
        blocks.setdefault(shard, []).append(packed)
    pairs, largest = set(), 0
    for packed in blocks.values():
        shard_pairs, stored, shard_largest = nd.shard_candidate_pairs(packed)
        assert stored == set()  # no stored rows among these
        pairs |= set(shard_pairs)
        largest = max(largest, shard_largest)
    stats = {}
    nd.find_near_duplicates(arts, stats=stats)
    assert len(pairs) == stats["candidates"] and largest >= 5
    ids = {row["article_id"] for row in rows}
    assert all(a < b and {a, b} <= ids for a, b in pairs)


def test_shard_candidates_skip_buckets_of_stored_rows_only():
    row = nd.article_key(article("new", BASE))
    stored = [(f"s{n}", True, nd.signature_band_keys(row)) for n in range(2)]
    only_stored = [packed for _, packed in nd.band_blocks(stored)]
    assert nd.shard_candidate_pairs(only_stored) == ([], set(), 0)  # no pairs, and not counted as a bucket
    with_new = only_stored + [packed for _, packed in nd.band_blocks([("new", False, nd.signature_band_keys(row))])]
    pairs, stored_in_pairs, largest = nd.shard_candidate_pairs(with_new)
    assert set(pairs) == {("new", "s0"), ("new", "s1")} and largest == 3
    assert stored_in_pairs == {"s0", "s1"}  # their records are read for verification
    assert nd.shard_candidate_pairs([])[0] == [] and nd.band_blocks([("x", False, [])]) == []
