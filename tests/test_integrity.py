"""A run whose data goes missing between its steps is not committed (pipeline/integrity.py).

The counts are tested without Beam; then `newsbeam run`, in a real process whose
runner is made to lose data at one step (a launcher wraps one function, as in
tests/test_faults.py). Data lost once: the run is run again under a new id, says so,
and ends with the tables of one clean run. Data lost every time: after its last
attempt the run fails in one line naming what went missing, nothing of it is
committed, and a rerun without the loss gives the tables of one clean run.
"""

import json

import pytest
from test_end_to_end import table_snapshot
from test_faults import assert_sound, clean_tables, corpus, finish, rerun, start_run  # noqa: F401 -- fixtures

from pipeline.integrity import disagreements, written_articles

AGREEING = {
    "inputs": 10,
    "articles": 5,
    "duplicates": 4,
    "duplicates.already_ingested": 1,
    "duplicates.near": 3,
    "rejects": 1,
    "band_entries_packed": 84,
    "band_entries_paired": 84,
    "candidate_pairs": 7,
    "candidate_pairs_verified": 7,
    "pair_members_unread": 0,
}


def test_counts_that_agree_give_no_disagreement():
    assert written_articles(AGREEING) == 8  # the already ingested one is written nowhere
    assert disagreements(AGREEING, article_rows=8) == []
    assert disagreements({}, article_rows=0) == []  # an empty run


def test_each_count_that_disagrees_is_named():
    assert disagreements({**AGREEING, "band_entries_paired": 42}, 8) == [
        "42 of 84 band entries between packing and candidate pairing went missing"
    ]
    assert disagreements({**AGREEING, "candidate_pairs_verified": 6}, 8) == [
        "1 of 7 candidate pairs between pairing and verification went missing"
    ]
    assert disagreements({**AGREEING, "inputs": 11}, 8) == ["inputs=11 but articles + duplicates + rejects = 10"]
    assert disagreements(AGREEING, 7) == ["the article files hold 7 rows but the run counted 8 written"]
    assert disagreements({**AGREEING, "pair_members_unread": 2}, 8) == [
        "2 member(s) of candidate pairs with no signature verification could read"
    ]
    assert len(disagreements({**AGREEING, "inputs": 11, "band_entries_paired": 0}, 9)) == 3


def committed_runs(output) -> list:
    return sorted(json.loads(path.read_text())["run_id"] for path in (output / "_runs").glob("*.commit.json"))


def run_losing_once(output, corpus, patch: str, *extra) -> str:  # noqa: F811 -- a fixture's name
    """A run that loses data in its first attempt only: it succeeds, run again."""
    code, printed = finish(start_run(output, corpus, *extra, patch=patch))
    assert code == 0, printed
    assert "recovered: the run's counts disagree, so it is not committed" in printed, printed
    retried = [line for line in printed.splitlines() if line.startswith("recovered: ")]
    assert len(retried) == 1 and "; running it again as " in retried[0], printed
    # (with checkpoints, each of the run's commits names it)
    (committed,) = {run_id for run_id in committed_runs(output) if run_id.endswith("-retry2")}
    summary = json.loads((output / "_runs" / f"{committed}.json").read_text())
    assert summary["attempts_run_again"] == 1, summary
    assert [line for line in summary["recovery"] if "running it again as " in line] == [
        retried[0].removeprefix("recovered: ")
    ], summary
    assert_sound(output)
    return retried[0]


@pytest.mark.long
def test_band_entries_lost_every_time_fail_the_run_uncommitted(corpus, clean_tables, tmp_path, capsys):  # noqa: F811
    """Band blocks that never reach candidate pairing, in every attempt: the run would
    have found fewer near duplicates without a word; it fails instead."""
    output = tmp_path / "out"
    patch = """
import transforms.dedup.pairs as p
process = p.ShardCandidatesFn.process
def lose_blocks(self, shard_blocks):
    shard, blocks = shard_blocks
    return process(self, (shard, list(blocks)[1:] if shard % 2 == 0 else blocks))
p.ShardCandidatesFn.process = lose_blocks
"""
    code, printed = finish(start_run(output, corpus, "--checkpoint-minutes", "0", patch=patch))
    assert code == 1, printed
    assert "running it again as " in printed and printed.count("running it again as ") == 4, printed
    message = printed.strip().splitlines()[-1]
    assert message.startswith("newsbeam run: the run's counts disagree, so it is not committed"), printed
    assert "band entries between packing and candidate pairing went missing" in message
    assert "nothing of run" in message and message.endswith("this was attempt 5 of 5; rerun it")
    assert committed_runs(output) == [] and table_snapshot(output)["articles"] == []
    rerun(output, corpus, capsys)
    assert table_snapshot(output) == clean_tables
    assert_sound(output)


def test_an_article_lost_before_its_writer_once_is_written_by_the_run_again(
    corpus,  # noqa: F811
    clean_tables,  # noqa: F811
    tmp_path,
):
    """Defaults (NLP on, checkpoints): one analysed article never reaches the writer.
    The checkpoints already committed stay; the run's own commit is refused, and the
    run again skips what they hold and writes the lost article."""
    output = tmp_path / "out"
    patch = """
import transforms.sinks.checkpoints as k
process = k.WriteAnalysedFn.process
lost = []
def lose_first(self, analysed):
    if not lost:
        lost.append(analysed["article"]["article_id"])
        return None
    return process(self, analysed)
k.WriteAnalysedFn.process = lose_first
"""
    retried = run_losing_once(output, corpus, patch)
    assert "the article files hold" in retried and "but the run counted" in retried
    assert table_snapshot(output) == clean_tables


def test_an_input_lost_after_its_decision_once_is_written_by_the_run_again(corpus, clean_tables, tmp_path):  # noqa: F811
    """--no-nlp: an article dropped where its decision is applied is counted nowhere;
    the inputs no longer add up, and the attempt is not committed."""
    output = tmp_path / "out"
    patch = """
import transforms.dedup.decide as d
with_decision = d.with_decision
d.lost_in_test = []  # on the module: the function is pickled by value with each attempt's graph
def lose_first(article, decisions):
    if not d.lost_in_test:
        d.lost_in_test.append(article["input"])
        return []
    return with_decision(article, decisions)
d.with_decision = lose_first
"""
    retried = run_losing_once(output, corpus, patch, "--no-nlp")
    assert "but articles + duplicates + rejects =" in retried and "nothing of run" in retried
    after = table_snapshot(output)
    assert after["articles"] == clean_tables["articles"] and after["rejects"] == clean_tables["rejects"]


def test_a_signature_verification_cannot_read_once_fails_the_attempt(corpus, clean_tables, tmp_path):  # noqa: F811
    """--no-nlp: the record of one member of a candidate pair is missing from the files
    verification reads (as if a pending file were lost): its pairs would go unverified,
    near duplicates missed without a word. The attempt is not committed."""
    output = tmp_path / "out"
    patch = """
import transforms.dedup.pairs as p
pending_records = p.pending_records
p.lost_in_test = []  # on the module: the function may be pickled by value with each attempt's graph
def lose_first(path, wanted):
    for record in pending_records(path, wanted):
        if not p.lost_in_test:
            p.lost_in_test.append(record.article_id)
            continue
        yield record
p.pending_records = lose_first
"""
    retried = run_losing_once(output, corpus, patch, "--no-nlp")
    assert "1 member(s) of candidate pairs with no signature verification could read" in retried
    after = table_snapshot(output)
    assert after["articles"] == clean_tables["articles"] and after["rejects"] == clean_tables["rejects"]
