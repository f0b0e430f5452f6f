"""The output folder's commit protocol: a run's rows become visible all together or not at all.

Layout of an output folder (OUT):

    OUT/<table>/date=D/part-*.parquet     published files (DuckDB's table globs match these)
    OUT/_staging/<commit id>/<table>/...  files being written; no table glob reaches them
    OUT/_staging/<commit id>/_manifest.json   every file of the commit: its commit point
    OUT/_runs/<commit id>.commit.json     commit record: the files the commit added (and removed)
    OUT/_newsbeam.json                    marks a folder under this protocol

A commit, whether a batch run, a checkpoint of one (transforms/sinks/checkpoints.py), a
stream window, a compaction or a repair:
1. writers put every file of every table under `_staging/<commit id>/`;
2. `commit_staged` lists them into `_manifest.json` (written whole, then renamed: the
   commit point; from here on the commit is rolled forward, never back);
3. `publish` moves each file to its place under its table, writes the commit record,
   deletes the files the commit replaces (compaction) and removes the staging folder.

The committed files are those the commit records add and no record removes. Readers
(`newsbeam query`, and every run's "already stored" keys) read exactly those, so a
reader never sees part of a commit, and files of a run that died are never stored
keys. `recover` (under the output lock, when a run starts) rolls forward a commit
whose manifest is complete and deletes the staging of one that never got there.
Every step is idempotent, so recovery itself may be interrupted and run again.
"""

import json
import logging
import os
import shutil
import uuid
from datetime import datetime, timezone

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.metrics import progress_tally

STAGING = "_staging"
RUNS = "_runs"
QUARANTINE = "_quarantine"
MARKER = "_newsbeam.json"
MANIFEST = "_manifest.json"
COMMIT_SUFFIX = ".commit.json"
PROTOCOL_VERSION = 1
LEGACY_COMMIT = "adopted-legacy"


def is_local(path: str) -> bool:
    return FileSystems.get_scheme(path) in (None, "file")


def join(*parts: str) -> str:
    return FileSystems.join(*parts)


def relative(output: str, path: str) -> str:
    return path[len(output.rstrip("/")) + 1 :]


def staging_dir(output: str, commit_id: str) -> str:
    return join(output, STAGING, commit_id)


def window_commit_id(run_id: str, window) -> str:
    """A stream commits each window on its own; a batch run (one global window) once."""
    from apache_beam.transforms.window import GlobalWindow

    if window is None or isinstance(window, GlobalWindow):
        return run_id
    return f"{run_id}-w{window.start.to_utc_datetime():%Y%m%dT%H%M%S}"


def commit_record_path(output: str, commit_id: str) -> str:
    return join(output, RUNS, commit_id + COMMIT_SUFFIX)


# --- small file-system helpers: local paths directly, others through Beam ---------


def exists(path: str) -> bool:
    return os.path.exists(path) if is_local(path) else FileSystems.exists(path)


def read_json(path: str):
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        return json.loads(handle.read().decode("utf-8"))


def write_json(path: str, value) -> None:
    """Write a JSON file whole: readers see the old state or the new file, never part of it.

    Local: a temporary file, fsync, rename. Object stores: one PUT, which is atomic.
    """
    data = json.dumps(value, indent=1, sort_keys=True).encode("utf-8")
    if not is_local(path):
        with FileSystems.create(path) as handle:
            handle.write(data)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.{uuid.uuid4().hex}.tmp"
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    sync_folder(os.path.dirname(path))


def sync_folder(folder: str) -> None:
    """fsync a local folder, so a rename in it survives a power cut."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def list_files(folder: str) -> list[tuple[str, int]]:
    """(path, bytes) of every file below `folder`; [] when it does not exist."""
    if is_local(folder):
        found: list[tuple[str, int]] = []
        for root, _, names in os.walk(folder):
            found.extend((os.path.join(root, n), os.path.getsize(os.path.join(root, n))) for n in names)
        return sorted(found)
    if not FileSystems.exists(folder.rstrip("/") + "/"):
        return []
    matches = FileSystems.match([join(folder, "**")])[0].metadata_list
    return sorted((m.path, m.size_in_bytes) for m in matches)


def list_folders(folder: str) -> list[str]:
    """Names of the sub-folders of `folder` (object stores: first path components)."""
    if is_local(folder):
        return (
            sorted(n for n in os.listdir(folder) if os.path.isdir(os.path.join(folder, n)))
            if os.path.isdir(folder)
            else []
        )
    return sorted(
        {relative(folder, path).split("/", 1)[0] for path, _ in list_files(folder) if "/" in relative(folder, path)}
    )


def remove_tree(folder: str) -> None:
    if is_local(folder):
        if os.path.exists(folder):
            shutil.rmtree(folder)
        return
    paths = [path for path, _ in list_files(folder)]
    if paths:
        FileSystems.delete(paths)


def move(source: str, target: str) -> None:
    """Rename within the output (object stores: copy then delete)."""
    if is_local(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(source, target)
        return
    FileSystems.rename([source], [target])


# --- the protocol ----------------------------------------------------------------


def is_table_file(relative_path: str) -> bool:
    """A Parquet file of a table: not hidden, not a temporary of a writer at work."""
    name = relative_path.rsplit("/", 1)[-1]
    return name.endswith(".parquet") and not name.startswith(".")


def staged_manifest(output: str, commit_id: str, run_id: str, removes=(), note: dict | None = None) -> dict:
    """The manifest of what a commit's writers left under its staging folder."""
    staging = staging_dir(output, commit_id)
    files = []
    for path, size in list_files(staging):
        rel = relative(staging, path)
        if is_table_file(rel):
            files.append({"path": rel, "table": rel.split("/", 1)[0], "bytes": size})
    return {
        "commit_id": commit_id,
        "run_id": run_id,
        "protocol": PROTOCOL_VERSION,
        "created_at": datetime.now(timezone.utc).isoformat(),
        "files": files,
        "removes": sorted(removes),
        **({"note": note} if note else {}),
    }


def commit_staged(output: str, commit_id: str, run_id: str, removes=(), note: dict | None = None) -> dict:
    """Commit what is staged for `commit_id`: write its manifest (the commit point), publish.

    Returns the commit record. A commit with nothing staged and nothing to remove
    still records itself, so a run that found nothing new is known to have finished.
    """
    manifest = staged_manifest(output, commit_id, run_id, removes, note)
    write_json(join(staging_dir(output, commit_id), MANIFEST), manifest)
    return publish(output, manifest)


def publish(output: str, manifest: dict) -> dict:
    """Move a manifest's files into place, record the commit, drop what it replaces.

    Idempotent: a file already moved is skipped, so a publish interrupted at any
    point is finished by running it again (recover does).
    """
    staging = staging_dir(output, manifest["commit_id"])
    for entry in manifest["files"]:
        staged, final = join(staging, entry["path"]), join(output, entry["path"])
        if exists(staged):
            move_into_place(staged, final)
        elif not exists(final):
            raise FileNotFoundError(f"commit {manifest['commit_id']}: {entry['path']} is neither staged nor published")
    record = {**manifest, "committed_at": datetime.now(timezone.utc).isoformat()}
    record_path = commit_record_path(output, manifest["commit_id"])
    if exists(record_path):  # a second firing of one stream window: keep both sets of files
        earlier = read_json(record_path)
        paths = {entry["path"] for entry in record["files"]}
        record["files"] = [e for e in earlier["files"] if e["path"] not in paths] + record["files"]
        counts = dict((earlier.get("note") or {}).get("counts", {}))
        for name, value in (record.get("note") or {}).get("counts", {}).items():
            counts[name] = counts.get(name, 0) + value
        if counts:
            record["note"] = {**(record.get("note") or {}), "counts": counts}
    write_json(record_path, record)
    replaced = [join(output, path) for path in manifest.get("removes", ())]
    gone = [path for path in replaced if exists(path)]
    if gone:
        FileSystems.delete(gone)
    remove_staging(output, manifest["commit_id"])
    return record


def remove_staging(output: str, commit_id: str) -> None:
    """Remove a commit's staging folder, and `_staging/` itself once it is empty."""
    remove_tree(staging_dir(output, commit_id))
    parent = join(output, STAGING)
    if is_local(parent) and os.path.isdir(parent) and not os.listdir(parent):
        os.rmdir(parent)


def move_into_place(staged: str, final: str) -> None:
    """One file of a commit to its published place (a separate function: the fault
    tests kill the process here, between two files of one publish)."""
    move(staged, final)


def discard_uncommitted(output: str, commit_id: str) -> bool:
    """Remove a commit's staging unless its manifest is written (then it must be rolled
    forward, never back). True when something was removed."""
    staging = staging_dir(output, commit_id)
    if exists(join(staging, MANIFEST)) or not exists(staging):
        return False
    remove_staging(output, commit_id)
    return True


def recover(output: str) -> list[str]:
    """Finish or clear what dead runs left under `_staging/`; one line per action.

    Call it only while holding the output lock: a live writer's staging looks
    exactly like a dead one's.
    """
    actions = []
    for commit_id in list_folders(join(output, STAGING)):
        manifest_path = join(staging_dir(output, commit_id), MANIFEST)
        manifest = read_manifest(manifest_path)
        if manifest is not None:
            publish(output, manifest)
            actions.append(f"rolled forward commit {commit_id} (its manifest was complete)")
        else:
            remove_staging(output, commit_id)
            actions.append(f"removed the staging of {commit_id}, which never committed")
    stale = [path for path, _ in list_files(join(output, RUNS)) if path.endswith(".tmp")]
    if stale:  # a commit record or summary whose writer died before its rename
        FileSystems.delete(stale)
        actions.append(f"removed {len(stale)} unfinished record files from {RUNS}/")
    return actions


def read_manifest(path: str) -> dict | None:
    """A staged manifest, or None when there is none or it cannot be read (a manifest is
    renamed into place whole, so only a damaged disk gives an unreadable one: its
    commit is then treated as never made, and `check` names any file it had published)."""
    if not exists(path):
        return None
    try:
        return read_json(path)
    except (OSError, ValueError) as error:
        logging.getLogger("newsbeam").warning("unreadable manifest %s (%s): its commit is dropped", path, error)
        return None


def record_paths(output: str) -> list[str]:
    return [path for path, _ in list_files(join(output, RUNS)) if path.endswith(COMMIT_SUFFIX)]


def unreadable_records(output: str) -> dict:
    """path -> reason, for commit records that cannot be read."""
    bad = {}
    for path in record_paths(output):
        try:
            record = read_json(path)
            record["files"], record["commit_id"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            bad[path] = f"{type(error).__name__}: {error}"
    return bad


def commit_records(output: str) -> list[dict]:
    """Every readable commit record of the output, oldest first. An unreadable one is
    left out with a warning (its files then count as uncommitted); `newsbeam check
    --repair` rebuilds it from the names of its files."""
    records = []
    for path in record_paths(output):
        try:
            record = read_json(path)
            record["files"], record["commit_id"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            logging.getLogger("newsbeam").warning(
                "unreadable commit record %s (%s); `newsbeam check --repair` rebuilds it", path, error
            )
            continue
        records.append(record)
    return sorted(records, key=lambda r: (r.get("committed_at", ""), r["commit_id"]))


def belongs_to(commit_id: str, relative_path: str) -> bool:
    """Whether a table file was written by `commit_id`: writers name files
    `part-<commit id>.parquet` (a stream window) or `part-<commit id>-NNN.parquet` (a run)."""
    name = relative_path.rsplit("/", 1)[-1]
    prefix = f"part-{commit_id}"
    return (
        name.startswith(prefix)
        and name[len(prefix) : len(prefix) + 1] in ("-", ".")
        and not name[len(prefix) :].startswith("-w")
    )


def rebuilt_record(output: str, record_path: str, files: list[tuple[str, int]]) -> dict:
    """A commit record made anew from the files in place that its commit wrote."""
    commit_id = record_path.rsplit("/", 1)[-1][: -len(COMMIT_SUFFIX)]
    now = datetime.now(timezone.utc).isoformat()
    return {
        "commit_id": commit_id,
        "run_id": commit_id,
        "protocol": PROTOCOL_VERSION,
        "created_at": now,
        "committed_at": now,
        "removes": [],
        "note": {"rebuilt": "from the names of its files"},
        "files": [
            {"path": rel, "table": rel.split("/", 1)[0], "bytes": size}
            for rel, size in files
            if belongs_to(commit_id, rel)
        ],
    }


def is_protocol_folder(output: str) -> bool:
    return exists(join(output, MARKER))


def published_table_files(output: str, table_name: str | None = None) -> list[tuple[str, int]]:
    """(relative path, bytes) of every table file in place, committed or not."""
    tables = [table_name] if table_name else [name for name in list_folders(output) if not name.startswith("_")]
    found = []
    for table in tables:
        for path, size in list_files(join(output, table)):
            rel = relative(output, path)
            if is_table_file(rel):
                found.append((rel, size))
    return sorted(found)


def committed_entries(output: str) -> dict:
    """relative path -> its manifest entry, for every committed file.

    A folder written before this protocol (no marker) has no records: its files
    in place count as committed until `prepare_output` adopts them.
    """
    if not is_protocol_folder(output):
        return {
            rel: {"path": rel, "table": rel.split("/", 1)[0], "bytes": size}
            for rel, size in published_table_files(output)
        }
    entries, removed = {}, set()
    for record in commit_records(output):
        for entry in record["files"]:
            entries[entry["path"]] = entry
        removed.update(record.get("removes", ()))
    return {path: entry for path, entry in entries.items() if path not in removed}


def committed_files(output: str, table_name: str) -> list[str]:
    """Full paths of the committed files of one table, sorted."""
    return sorted(
        join(output, path) for path, entry in committed_entries(output).items() if entry["table"] == table_name
    )


def prepare_output(output: str) -> list[str]:
    """Make `output` ready for a commit: recover dead runs, adopt a folder written
    before this protocol, mark it. Call under the output lock; returns what was done."""
    actions = recover(output)
    if not is_protocol_folder(output):
        legacy = published_table_files(output)
        if legacy:
            write_json(
                commit_record_path(output, LEGACY_COMMIT),
                {
                    "commit_id": LEGACY_COMMIT,
                    "run_id": LEGACY_COMMIT,
                    "protocol": PROTOCOL_VERSION,
                    "created_at": datetime.now(timezone.utc).isoformat(),
                    "committed_at": datetime.now(timezone.utc).isoformat(),
                    "removes": [],
                    "files": [{"path": rel, "table": rel.split("/", 1)[0], "bytes": size} for rel, size in legacy],
                },
            )
            actions.append(f"adopted {len(legacy)} files written before commit records existed")
        write_json(join(output, MARKER), {"protocol": PROTOCOL_VERSION})
    return actions


COUNT = "count"


class TallyFn(beam.DoFn):
    """Elements -> (the commit of their window, (COUNT, name)) tokens: a stream's
    accounting travels with its data into each window's commit record, exactly once,
    whatever the runner does with metrics (Prism 2.77 loses counter updates that two
    bundles report at once for a counter it does not know yet)."""

    def __init__(self, run_id: str, name: str, by: str | None = None):
        self.run_id, self.name, self.by = run_id, name, by

    def setup(self):
        self.progress = progress_tally()  # the stream's status line (pipeline/progress.py)

    def process(self, element, window=beam.DoFn.WindowParam):
        commit_id = window_commit_id(self.run_id, window)
        yield commit_id, (COUNT, self.name)
        self.progress.add(self.name)
        if self.by:
            yield commit_id, (COUNT, f"{self.name}.{element.get(self.by)}")

    def finish_bundle(self):
        self.progress.flush()


def tally(run_id: str, name: str, by: str | None = None):
    return beam.ParDo(TallyFn(run_id, name, by))


def counts_of(values) -> dict:
    """name -> count of the (COUNT, name) tokens among a window's values."""
    counts: dict[str, int] = {}
    for value in values:
        if isinstance(value, tuple) and value[0] == COUNT:
            counts[value[1]] = counts.get(value[1], 0) + 1
    return counts


def committed_counts(output: str, run_id: str) -> dict:
    """The counts that the commits of `run_id` recorded, added up."""
    totals: dict[str, int] = {}
    for record in commit_records(output):
        if record.get("run_id") == run_id:
            for name, value in (record.get("note") or {}).get("counts", {}).items():
                totals[name] = totals.get(name, 0) + value
    return totals


class CommitWindowFn(beam.DoFn):
    """(commit id, staged paths and tally tokens) of one stream window -> its commit
    record, with the window's counts."""

    def __init__(self, output: str, run_id: str):
        self.output, self.run_id = output, run_id

    def setup(self):
        self.progress = progress_tally()

    def process(self, commit_and_values):
        commit_id, values = commit_and_values
        counts = counts_of(values)
        record = commit_staged(self.output, commit_id, self.run_id, note={"counts": counts} if counts else None)
        self.progress.add("windows_committed")
        self.progress.flush()
        yield commit_id, len(record["files"])


class CommitWindows(beam.PTransform):
    """(commit id, path or tally token) of every file a stream wrote and every element
    it counted -> one commit per window, with its counts, once
    every table's files of that window are written (the GroupByKey fires when the
    watermark passes the window). The run's global-window files (no window) are
    committed by the driver when the stream ends."""

    def __init__(self, output: str, run_id: str):
        super().__init__()
        self.output, self.run_id = output, run_id

    def expand(self, written):
        run_id = self.run_id
        return (
            written
            | "OnlyWindowed" >> beam.Filter(lambda commit_and_path: commit_and_path[0] != run_id)
            | "GroupByCommit" >> beam.GroupByKey()
            | "Commit" >> beam.ParDo(CommitWindowFn(self.output, run_id))
        )
