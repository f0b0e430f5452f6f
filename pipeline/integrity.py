"""Before a batch run commits, its counts must agree: a run whose data went missing
between two steps is not committed (nothing of it becomes visible) instead of
committing tables that silently lack rows or duplicates.

A runner can lose data without failing: Beam's local runner lost band entries before
candidate pairing, first seen with BatchElements in the graph, then, caught by this
check, without it in 1 of 9 chunks of a 1M-article run (docs/performance.md); Flink's
fuser loses a Flatten input that another transform also reads (Beam issue 34647). The
cause in the local runner is not found. So the driver compares, once the pipeline
has finished:
- inputs with articles + duplicates + rejects (each input ends as exactly one);
- the band entries packed with those candidate pairing received, and the candidate
  pairs made with those verification received (metrics counted on both sides); and
  every member of a pair must have a signature that verification could read;
- the rows of the run's article files on disk (staged, and committed by its checkpoints)
  with the articles and duplicates it counted as written (skipped rows are written
  nowhere).
pipeline/run.py runs a batch run (or chunk) whose counts disagree again, under a new id.
"""

from pipeline.maintenance import row_count
from schemas.tables import ARTICLES
from transforms.dedup.decide import REASON_SAME_ID, REASON_STORED
from transforms.sinks.checkpoints import checkpoint_record_paths
from transforms.sinks.commit import is_table_file, join, list_files, read_json, relative, staging_dir

# (counter made upstream, the same count received downstream, what travels between them)
HANDOVERS = (
    ("band_entries_packed", "band_entries_paired", "band entries between packing and candidate pairing"),
    ("candidate_pairs", "candidate_pairs_verified", "candidate pairs between pairing and verification"),
)
# (counter, what it counts): each must stay 0
NEVER = (("pair_members_unread", "member(s) of candidate pairs with no signature verification could read"),)


class CountsDisagree(Exception):
    """A finished run whose counts disagree (see the module's docstring)."""


def written_articles(totals: dict) -> int:
    """The article rows a run's counts say it wrote: winners and duplicates, less the
    skipped rows (already stored, or read twice), which are counted as duplicates."""
    skipped = totals.get(f"duplicates.{REASON_STORED}", 0) + totals.get(f"duplicates.{REASON_SAME_ID}", 0)
    return totals.get("articles", 0) + totals.get("duplicates", 0) - skipped


def disagreements(totals: dict, article_rows: int) -> list[str]:
    """What disagrees among a finished run's counter totals and the article rows it
    wrote, one phrase each; empty when everything adds up."""
    found = []
    inputs, articles = totals.get("inputs", 0), totals.get("articles", 0)
    duplicates, rejects = totals.get("duplicates", 0), totals.get("rejects", 0)
    if inputs != articles + duplicates + rejects:
        found.append(f"inputs={inputs} but articles + duplicates + rejects = {articles + duplicates + rejects}")
    for sent_name, received_name, what in HANDOVERS:
        sent, received = totals.get(sent_name, 0), totals.get(received_name, 0)
        if sent != received:
            found.append(f"{sent - received} of {sent} {what} went missing")
    for name, what in NEVER:
        if totals.get(name, 0):
            found.append(f"{totals[name]} {what}")
    expected = written_articles(totals)
    if article_rows != expected:
        found.append(f"the article files hold {article_rows} rows but the run counted {expected} written")
    return found


def run_article_rows(output: str, run_id: str) -> int:
    """Rows of the article files a run wrote: those staged for its own commit, and
    those its checkpoints (transforms/sinks/checkpoints.py) already committed."""
    staging = staging_dir(output, run_id)
    staged = [relative(staging, path) for path, _ in list_files(join(staging, ARTICLES.name))]
    rows = sum(row_count(staging, path) for path in staged if is_table_file(path))
    for path in checkpoint_record_paths(output, run_id):  # only this run's records are read
        files = read_json(path)["files"]
        rows += sum(row_count(output, entry["path"]) for entry in files if entry["table"] == ARTICLES.name)
    return rows


def check_counts(output: str, run_id: str, totals: dict) -> None:
    """Raise CountsDisagree when a finished run's counts disagree (call before its commit)."""
    found = disagreements(totals, run_article_rows(output, run_id))
    if found:
        raise CountsDisagree(
            "the run's counts disagree, so it is not committed (data went missing between its steps): "
            + "; ".join(found)
        )
