"""The `newsbeam` command: run, stream, extract, query, check, compact."""
import argparse
import json
import logging
import os
import secrets
import sys
from datetime import datetime, timezone

USAGE = """usage: newsbeam COMMAND ...

commands:
  run      --input PATH_OR_GLOB [--input ...] [--feed URL_OR_FILE ...] --output DIR [Beam options]
  extract  FILE [FILE ...]              entities and quotes of files as JSON lines (no Beam)
  stream   --feed URL [--feeds-file LIST] --output DIR [--poll-interval 60 --window 300 --duration S]
  query    --output DIR "SQL"           DuckDB over the output tables
  check    --output DIR [--repair]      verify every stored file; --repair quarantines bad ones
  compact  --output DIR [--table T] [--before YYYY-MM-DD]   merge each partition's files into one
"""


EXIT_LOCKED = 75  # sysexits' EX_TEMPFAIL: another run holds the output; try again later


class UsageError(Exception):
    """Unusable arguments: reported as one line, exit code 2."""


def new_run_id(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def is_remote(spec: str) -> bool:
    return "://" in spec


def local_matches(spec: str) -> list[str]:
    """The files a local spec names, listed as the run lists them (never a folder twice)."""
    if os.path.exists(spec):
        return [spec]
    from transforms.ingest.read import has_glob, list_files, real_path

    return [real_path(path) for path in list_files(spec)[0]] if has_glob(spec) else []


def is_within(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def check_run_arguments(opts) -> None:
    """Raise UsageError with a one-line reason when a run cannot be started."""
    if not opts.output:
        raise UsageError("--output DIR is required")
    if not opts.input and not opts.feed and not opts.feeds_file:
        raise UsageError("give at least one --input PATH_OR_GLOB, --feed URL_OR_FILE or --feeds-file LIST")
    for spec in opts.input + [f for f in opts.feed + opts.feeds_file if not is_remote(f)]:
        if is_remote(spec):
            continue
        matches = local_matches(spec)
        if not matches:
            raise UsageError(f"input not found: {spec}")
        if not is_remote(opts.output):
            for match in matches:
                if is_within(opts.output, match) or is_within(match, opts.output):
                    raise UsageError(f"output {opts.output} overlaps input {match}")
    for feed in opts.feed:
        if is_remote(feed) and not feed.lower().startswith(("http://", "https://")):
            raise UsageError(f"feeds are http(s) URLs or local files: {feed}")
    check_limits(opts)


def check_limits(opts) -> None:
    """Numbers that must be positive (a zero batch would never fill; a negative wait is none)."""
    for name, value in (("--nlp-batch-chars", opts.nlp_batch_chars), ("--http-timeout", opts.http_timeout),
                        ("--max-fetch-bytes", opts.max_fetch_bytes), ("--per-host-limit", opts.per_host_limit)):
        if value <= 0:
            raise UsageError(f"{name} must be positive: {value}")
    if opts.wait_for_lock < 0:
        raise UsageError(f"--wait-for-lock takes seconds, 0 or more: {opts.wait_for_lock}")
    if opts.checkpoint_minutes < 0:
        raise UsageError(f"--checkpoint-minutes takes minutes, 0 or more: {opts.checkpoint_minutes}")


def run_command(argv: list[str]) -> int:
    from apache_beam.options.pipeline_options import StandardOptions

    from pipeline.options import NewsbeamOptions
    from pipeline.run import feed_outcomes, run_batch
    from pipeline.runners import LOCAL_BATCH_RUNNER, use_local_memory_settings

    options = NewsbeamOptions(argv)
    opts = options.view_as(NewsbeamOptions)
    check_run_arguments(opts)
    if not options.view_as(StandardOptions).runner:
        options.view_as(StandardOptions).runner = LOCAL_BATCH_RUNNER
    if options.view_as(StandardOptions).runner in (LOCAL_BATCH_RUNNER, "DirectRunner"):
        use_local_memory_settings()
    started_at = datetime.now(timezone.utc)
    summary = run_batch(options, opts.run_id or new_run_id(started_at), started_at)
    for line in summary.recovery:
        print(f"recovered: {line}")
    for line in feed_outcomes(opts.output, summary.run_id):
        print(line)
    print(summary.line())
    return 0 if summary.balanced else 1


def stream_command(argv: list[str]) -> int:
    from apache_beam.options.pipeline_options import StandardOptions

    from pipeline.options import NewsbeamOptions
    from pipeline.run import feed_outcomes, run_stream
    from apache_beam.options.pipeline_options import PrismRunnerOptions

    from pipeline.runners import LOCAL_STREAM_RUNNER, local_prism_binary

    options = NewsbeamOptions(argv)
    opts = options.view_as(NewsbeamOptions)
    if not opts.output:
        raise UsageError("--output DIR is required")
    if opts.input or any(not is_remote(f) for f in opts.feed):
        raise UsageError("stream polls feed URLs (--feed URL, --feeds-file LIST); use `run` for files")
    if not opts.feed and not opts.feeds_file:
        raise UsageError("give at least one --feed URL or --feeds-file LIST")
    if opts.poll_interval <= 0 or opts.window <= 0:
        raise UsageError("--poll-interval and --window must be positive")
    check_limits(opts)
    standard = options.view_as(StandardOptions)
    standard.streaming = True
    if not standard.runner:
        prism = options.view_as(PrismRunnerOptions)
        prism.prism_location = prism.prism_location or local_prism_binary()
        if not prism.prism_location:
            raise UsageError("streams run on Prism: build it with `make prism` (or give --runner / --prism_location)")
        standard.runner = LOCAL_STREAM_RUNNER
    started_at = datetime.now(timezone.utc)
    summary = run_stream(options, opts.run_id or new_run_id(started_at), started_at)
    for line in summary.recovery:
        print(f"recovered: {line}")
    if summary.stopped:
        print(f"stopped: {summary.stopped}")
    print(f"{len(feed_outcomes(opts.output, summary.run_id))} feed polls")
    print(summary.line())
    return 0 if summary.balanced else 1


def extract_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="newsbeam extract")
    parser.add_argument("files", nargs="+")
    parser.add_argument("--spacy-model", default=None)
    parser.add_argument("--nlp-batch-chars", type=int, default=None,
                        help="Longer texts are analysed in pieces of at most this many characters (default 96000).")
    args = parser.parse_args(argv)
    from pipeline.extract import extract_files
    from transforms.nlp.inference import MAX_BATCH_CHARS

    if args.nlp_batch_chars is not None and args.nlp_batch_chars <= 0:
        raise UsageError(f"--nlp-batch-chars must be positive: {args.nlp_batch_chars}")
    for record in extract_files(args.files, args.spacy_model, args.nlp_batch_chars or MAX_BATCH_CHARS):
        print(json.dumps(record, ensure_ascii=False), flush=True)
    return 0


def query_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="newsbeam query")
    parser.add_argument("--output", required=True, help="A newsbeam output directory.")
    parser.add_argument("sql", help="SQL over the views articles, entities, quotes, rejects.")
    parser.add_argument("--max-rows", type=int, default=50)
    args = parser.parse_args(argv)
    from schemas.duckdb_views import open_output

    import duckdb

    if not is_remote(args.output) and not os.path.isdir(args.output):
        raise UsageError(f"output directory not found: {args.output}")

    def name_bad_file(path, reason):
        print(f"newsbeam query: left out corrupt file {path} ({reason}); "
              f"`newsbeam check --output {args.output} --repair` quarantines it", file=sys.stderr)

    con = open_output(args.output, on_bad_file=name_bad_file)
    try:
        print(format_table(con.execute(args.sql), args.max_rows))
    except duckdb.Error as error:  # bad SQL, or a file that fails past its footer (named in the message)
        print(f"newsbeam query: {type(error).__name__}: {str(error).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


def output_argument(parser) -> None:
    parser.add_argument("--output", required=True, help="A newsbeam output directory.")
    parser.add_argument("--wait-for-lock", dest="wait_for_lock", type=float, default=0.0,
                        help="Seconds to wait while a run writes to the output (default 0: refuse).")


def check_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="newsbeam check", description=(
        "Verify an output: every committed file readable and of its table's schema, each article id "
        "once, no commit half done, no file outside every commit. Exit 0 when sound."))
    output_argument(parser)
    parser.add_argument("--repair", action="store_true",
                        help="Finish or clear dead commits; move bad files to _quarantine/ (recorded).")
    args = parser.parse_args(argv)
    from pipeline.maintenance import check_output, repair_output

    if not is_remote(args.output) and not os.path.isdir(args.output):
        raise UsageError(f"output directory not found: {args.output}")
    report = repair_output(args.output, args.wait_for_lock) if args.repair else check_output(args.output)
    for line in report.repaired:
        print(f"repaired: {line}")
    for problem in report.problems:
        print(problem.line())
    print(f"{report.files_checked} files checked, {len(report.problems)} problems"
          + (f", {len(report.repaired)} repairs" if args.repair else ""))
    return 0 if report.clean else 1


def compact_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="newsbeam compact", description=(
        "Merge each partition's files (streams write one per window) into one, as one commit."))
    from schemas.tables import TABLES

    output_argument(parser)
    parser.add_argument("--table", choices=sorted(TABLES), help="Only this table (default: all).")
    parser.add_argument("--before", help="Only partitions dated before YYYY-MM-DD.")
    args = parser.parse_args(argv)
    from pipeline.maintenance import compact_output

    if not is_remote(args.output) and not os.path.isdir(args.output):
        raise UsageError(f"output directory not found: {args.output}")
    if args.before:
        try:
            datetime.strptime(args.before, "%Y-%m-%d")
        except ValueError:
            raise UsageError(f"--before takes a date YYYY-MM-DD: {args.before}") from None
    for line in compact_output(args.output, args.table, args.before, args.wait_for_lock):
        print(line)
    return 0


def format_table(cursor, max_rows: int) -> str:
    """A plain-text table of a DuckDB result (no extra dependency)."""
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchmany(max_rows + 1)
    shown = [[shorten(v) for v in row] for row in rows[:max_rows]]
    widths = [max([len(n)] + [len(r[i]) for r in shown]) for i, n in enumerate(names)]
    lines = [" | ".join(n.ljust(w) for n, w in zip(names, widths)),
             "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(v.ljust(w) for v, w in zip(r, widths)) for r in shown]
    if len(rows) > max_rows:
        lines.append(f"... (more than {max_rows} rows)")
    return "\n".join(lines)


def shorten(value, width: int = 60) -> str:
    text = "NULL" if value is None else str(value).replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


COMMANDS = {"run": run_command, "stream": stream_command, "extract": extract_command,
            "query": query_command, "check": check_command, "compact": compact_command}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Beam logs import-time noise (missing optional GCP clients) as warnings.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    # Beam logs a worker's exception with its traceback before re-raising it; the
    # exception itself reaches the user (one line when it is an operator's error).
    logging.getLogger("apache_beam").setLevel(logging.CRITICAL)
    if not argv or argv[0] not in COMMANDS:
        print(USAGE, file=sys.stderr)
        return 2
    from pipeline.output_lock import OutputLocked
    from pipeline.run import Interrupted, OperatorError

    try:
        return COMMANDS[argv[0]](argv[1:])
    except UsageError as error:
        print(f"newsbeam {argv[0]}: {error}", file=sys.stderr)
        return 2
    except OutputLocked as error:
        print(f"newsbeam {argv[0]}: {error}", file=sys.stderr)
        return EXIT_LOCKED
    except OperatorError as error:
        print(f"newsbeam {argv[0]}: {error}", file=sys.stderr)
        return 1
    except Interrupted as error:
        print(f"newsbeam {argv[0]}: {error}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"newsbeam {argv[0]}: interrupted", file=sys.stderr)
        return 130
