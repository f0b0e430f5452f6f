"""Checks on a command line's paths before any Beam work, each giving one line with the remedy.

Beam registers its S3 filesystem even without boto3 and fails only when it first
touches the bucket (after the whole pipeline has run, at the write), and it does not
register GCS at all without google-cloud-storage: both are said here, up front.
Whether a local output can be written is probed for real under the output's lock
(pipeline/run.py `check_writable`); here only what needs no lock is checked.
"""

import importlib.util
import os
from typing import NamedTuple

from transforms.ingest.read import is_remote


class FilesystemExtra(NamedTuple):
    module: str  # what Beam's filesystem imports
    package: str  # the PyPI package that provides it
    extra: str  # newsbeam's extra that installs it (setup.py)


FILESYSTEM_EXTRAS = {
    "s3": FilesystemExtra("boto3", "boto3", "aws"),
    "gs": FilesystemExtra("google.cloud.storage", "google-cloud-storage", "gcp"),
}


def is_installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a parent package (google.cloud) is missing
        return False


def filesystem_problem(path: str) -> str | None:
    """Why Beam cannot reach `path`'s filesystem in this environment, or None."""
    from apache_beam.io.filesystems import FileSystems

    scheme = FileSystems.get_scheme(path)
    if scheme in FILESYSTEM_EXTRAS:
        needed = FILESYSTEM_EXTRAS[scheme]
        if not is_installed(needed.module):
            return (
                f"{scheme}:// paths need {needed.package}, which is not installed: "
                f"install newsbeam[{needed.extra}] (pip install 'newsbeam[{needed.extra}]')"
            )
    try:
        FileSystems.get_filesystem(path)
    except ValueError:
        return f"no filesystem for {scheme}:// paths here: give a local folder, gs://… or s3://…"
    return None


def output_problem(output: str) -> str | None:
    """Why `output` cannot be a run's output folder, or None (writing is probed later)."""
    if is_remote(output):
        return filesystem_problem(output)
    existing = os.path.abspath(output)
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        return f"{existing} is a file, not a folder: give --output a folder (new or one a run wrote to)"
    return None


def input_problems(specs: list[str]) -> list[str]:
    """Why remote inputs (gs://, s3://; not http(s) feeds) cannot be read here."""
    problems = []
    for spec in specs:
        if is_remote(spec) and not spec.lower().startswith(("http://", "https://")):
            problem = filesystem_problem(spec)
            if problem and problem not in problems:
                problems.append(problem)
    return problems


def existing_output_problem(output: str) -> str | None:
    """Why `output` is no folder a newsbeam run wrote to (for query, check, compact), or None."""
    from transforms.sinks.commit import MARKER, RUNS, exists, join

    if is_remote(output):
        problem = filesystem_problem(output)
        if problem:
            return problem
    elif not os.path.isdir(output):
        return f"output directory not found: {output}"
    if not (exists(join(output, MARKER)) or exists(join(output, RUNS))):
        return f"{output} is not a newsbeam output (no {MARKER} or {RUNS}); give the folder a run wrote to"
    return None


def runner_problem(runner: str) -> str | None:
    """Why Beam cannot make the runner `--runner` names (Beam's own message, which lists
    the valid names, or the missing module), or None."""
    from apache_beam.runners.runner import create_runner

    try:
        create_runner(runner)
    except ImportError as error:
        return f"runner {runner} needs {error.name or error}, which is not installed (DataflowRunner: newsbeam[gcp])"
    except ValueError as error:
        return str(error).strip().splitlines()[0]
    return None
