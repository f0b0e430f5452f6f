"""`newsbeam check` and `newsbeam compact`: keep an output folder sound, through the
same commit protocol as runs (transforms/sinks/commit.py), under the same lock."""

import os
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipeline.output_lock import OutputLock
from schemas.tables import PARTITION_COLUMN, TABLES
from transforms.sinks.commit import (
    MANIFEST,
    QUARANTINE,
    STAGING,
    commit_staged,
    committed_entries,
    discard_uncommitted,
    exists,
    is_local,
    join,
    list_folders,
    move,
    prepare_output,
    published_table_files,
    rebuilt_record,
    relative,
    staging_dir,
    unreadable_records,
    write_json,
)
from transforms.sinks.write import COMPRESSION, ROW_GROUP_ROWS, file_schema


@dataclass
class Problem:
    kind: str  # unreadable, missing, changed, schema, uncommitted, unfinished_commit, duplicate_id
    path: str  # relative to the output
    detail: str

    def line(self) -> str:
        return f"{self.kind}: {self.path}: {self.detail}"


@dataclass
class CheckReport:
    files_checked: int = 0
    problems: list = field(default_factory=list)
    repaired: list = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems


def new_maintenance_id(kind: str) -> str:
    return f"{kind}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def open_file(output: str, relative_path: str):
    return FileSystems.open(join(output, relative_path), compression_type="uncompressed")


def file_problem(output: str, entry: dict) -> Problem | None:
    """What is wrong with one committed file, reading it whole, or None."""
    path = entry["path"]
    if not exists(join(output, path)):
        return Problem("missing", path, "committed but not in place")
    try:
        with open_file(output, path) as handle:
            table = pq.read_table(handle)
    except (OSError, pa.ArrowException) as error:
        return Problem("unreadable", path, f"{type(error).__name__}: {error}")
    expected = TABLES.get(entry["table"])
    if expected is not None:
        wanted = file_schema(expected)
        found = {f.name: f.type for f in table.schema}
        wrong = [
            f"{f.name} ({found.get(f.name, 'missing')}, want {f.type})" for f in wanted if found.get(f.name) != f.type
        ]
        extra = sorted(set(found) - set(wanted.names))
        if wrong or extra:
            return Problem("schema", path, "; ".join(wrong + [f"{name} (not in schemas/)" for name in extra]))
    return None


def duplicate_article_ids(output: str, entries: dict, unreadable: set) -> list:
    """Problems for article ids that appear in more than one row of `articles`."""
    seen: dict[str, str] = {}
    problems: list[Problem] = []
    for path, entry in sorted(entries.items()):
        if entry["table"] != "articles" or path in unreadable:
            continue
        with open_file(output, path) as handle:
            ids = pq.read_table(handle, columns=["article_id"]).column("article_id").to_pylist()
        for article_id in ids:
            if article_id in seen:
                problems.append(Problem("duplicate_id", path, f"article_id {article_id} also in {seen[article_id]}"))
            else:
                seen[article_id] = path
    return problems


def check_output(output: str) -> CheckReport:
    """Every committed file readable and of its table's schema, each article id once,
    no commit half done, no table file outside every commit. Changes nothing."""
    report = CheckReport()
    for path, reason in unreadable_records(output).items():
        report.problems.append(
            Problem(
                "unreadable_record",
                relative(output, path),
                f"{reason}; --repair rebuilds it from the names of its files",
            )
        )
    for commit_id in list_folders(join(output, STAGING)):
        complete = exists(join(staging_dir(output, commit_id), MANIFEST))
        report.problems.append(
            Problem(
                "unfinished_commit",
                f"{STAGING}/{commit_id}",
                "manifest complete: the next run or --repair rolls it forward"
                if complete
                else "never committed: the next run or --repair removes it",
            )
        )
    entries = committed_entries(output)
    for path in sorted(set(rel for rel, _ in published_table_files(output)) - set(entries)):
        report.problems.append(Problem("uncommitted", path, "in place but in no commit record (a dead run's)"))
    for _path, entry in sorted(entries.items()):
        report.files_checked += 1
        problem = file_problem(output, entry)
        if problem:
            report.problems.append(problem)
    broken = {p.path for p in report.problems if p.kind in ("unreadable", "missing", "schema")}
    report.problems += duplicate_article_ids(output, entries, broken)
    return report


def repair_output(output: str, wait_for_lock: float = 0.0) -> CheckReport:
    """Check, then under the lock: finish or clear dead commits, and move unreadable,
    wrongly shaped and uncommitted files to `_quarantine/<repair id>/`, recorded
    there and in a commit that removes them from the tables. Duplicate article ids
    are reported, not repaired: which row is right is the user's call."""
    repair_id = new_maintenance_id("repair")
    with OutputLock(output, repair_id, wait_for_lock):
        report = CheckReport(repaired=prepare_output(output))
        report.repaired += rebuild_records(output)
        found = check_output(output)
        report.files_checked = found.files_checked
        movable = [p for p in found.problems if p.kind in ("unreadable", "schema", "uncommitted")]
        if movable:
            quarantine = join(output, QUARANTINE, repair_id)
            for problem in movable:
                move(join(output, problem.path), join(quarantine, problem.path))
                report.repaired.append(f"quarantined {problem.path} ({problem.kind}: {problem.detail})")
            write_json(join(quarantine, "_reasons.json"), [p.__dict__ for p in movable])
        missing = [p for p in found.problems if p.kind == "missing"]
        report.repaired += [f"dropped {p.path} from the tables (missing)" for p in missing]
        if movable or missing:
            commit_staged(
                output,
                repair_id,
                repair_id,
                removes=[p.path for p in movable + missing],
                note={"repair": [p.line() for p in movable + missing]},
            )
        report.problems = [p for p in found.problems if p not in movable and p not in missing]
    return report


def rebuild_records(output: str) -> list[str]:
    """Write anew each unreadable commit record from the uncommitted files in place
    that its commit wrote (their names carry the commit id)."""
    lines = []
    for path in unreadable_records(output):
        committed = committed_entries(output)
        loose = [(rel, size) for rel, size in published_table_files(output) if rel not in committed]
        record = rebuilt_record(output, path, loose)
        write_json(path, record)
        lines.append(f"rebuilt {relative(output, path)} from {len(record['files'])} files")
    return lines


# --- compaction -----------------------------------------------------------------------


def partition_of(path: str) -> str:
    """'articles/date=2026-03-01/part-x.parquet' -> '2026-03-01'."""
    folder = path.rsplit("/", 2)[-2]
    return folder.split("=", 1)[1] if folder.startswith(PARTITION_COLUMN + "=") else ""


def compaction_groups(entries: dict, table: str | None, before: str | None) -> dict:
    """(table, partition folder) -> its committed files, for partitions with several files."""
    groups = defaultdict(list)
    for path, entry in entries.items():
        if entry["table"] not in TABLES or (table and entry["table"] != table):
            continue
        if before and not partition_of(path) < before:
            continue
        groups[(entry["table"], path.rsplit("/", 1)[0])].append(path)
    return {key: sorted(paths) for key, paths in groups.items() if len(paths) > 1}


def merge_files(output: str, sources: list, schema: pa.Schema, target: str) -> int:
    """Copy the rows of `sources` into one file at `target`, a row group at a time
    (memory stays at one row group); return the rows written."""
    if is_local(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
    rows = 0
    with FileSystems.create(target) as handle:
        writer = pq.ParquetWriter(handle, schema, compression=COMPRESSION)
        try:
            for path in sources:
                with open_file(output, path) as source_handle:
                    source = pq.ParquetFile(source_handle)
                    for index in range(source.num_row_groups):
                        group = source.read_row_group(index).select(schema.names).cast(schema)
                        writer.write_table(group, row_group_size=ROW_GROUP_ROWS)
                        rows += group.num_rows
        finally:
            writer.close()
    return rows


def row_count(output: str, path: str) -> int:
    with open_file(output, path) as handle:
        return pq.read_metadata(handle).num_rows


def compact_output(
    output: str, table: str | None = None, before: str | None = None, wait_for_lock: float = 0.0
) -> list[str]:
    """Merge each partition's committed files into one, as one commit that adds the
    merged files and removes their sources: a reader sees the old files or the new
    ones, never both, and a crash leaves the old ones. Returns one line per partition."""
    compact_id = new_maintenance_id("compact")
    lines = []
    with OutputLock(output, compact_id, wait_for_lock):
        lines += [f"recovered: {line}" for line in prepare_output(output)]
        groups = compaction_groups(committed_entries(output), table, before)
        removes = []
        try:
            for (table_name, folder), sources in sorted(groups.items()):
                target = join(staging_dir(output, compact_id), folder, f"part-{compact_id}.parquet")
                expected = sum(row_count(output, path) for path in sources)
                written = merge_files(output, sources, file_schema(TABLES[table_name]), target)
                if written != expected:  # never commit a merge that lost or gained rows
                    raise RuntimeError(f"compacting {folder}: wrote {written} rows of {expected}")
                removes += sources
                lines.append(f"{folder}: {len(sources)} files -> 1 ({written} rows)")
        except BaseException:
            discard_uncommitted(output, compact_id)
            raise
        if groups:
            commit_staged(output, compact_id, compact_id, removes=removes, note={"compacted": lines})
    return lines or ["nothing to compact: every partition has one file"]
