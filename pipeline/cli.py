"""The `newsbeam` command: run, stream, extract, query, check, compact, report."""

import argparse
import copy
import difflib
import json
import logging
import os
import secrets
import sys
import traceback
from datetime import datetime, timezone

USAGE = """usage: newsbeam COMMAND ...

commands:
  run      --input PATH_OR_GLOB [--input ...] [--feed URL_OR_FILE ...] [--sitemap URL ...] --output DIR [Beam options]
  extract  PATH_OR_GLOB [...]           entities and quotes of files as JSON lines (no Beam)
  stream   --feed URL [--feeds-file LIST] --output DIR [--poll-interval 60 --window 300 --duration S]
  query    --output DIR "SQL"           DuckDB over the output tables
  check    --output DIR [--repair]      verify every stored file; --repair quarantines bad ones
  compact  --output DIR [--table T] [--before YYYY-MM-DD]   merge each partition's files into one
  report   --output DIR [--since DATE] [--until DATE] --to FILE.html   one self-contained HTML page
"""


HELP_FOOTER = """
`newsbeam COMMAND --help` lists a command's options with their defaults.
  --version   print the versions of newsbeam, Beam, spaCy and Python
  --debug     (anywhere on the line) on an error, show the traceback too
"""

EXIT_LOCKED = 75  # sysexits' EX_TEMPFAIL: another run holds the output; try again later


class UsageError(Exception):
    """Unusable arguments: reported as one line, exit code 2."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """--help shows each option's default (unless it is a flag, has none, or its help
    names it), and each option once, in its dashed spelling (`--run-id`, not `--run_id`)."""

    def _get_help_string(self, action):
        if action.nargs == 0 or action.default is None or action.default == [] or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)

    def _format_action_invocation(self, action):
        dashed = [name for name in action.option_strings if "_" not in name]
        if dashed and len(dashed) < len(action.option_strings):
            action = copy.copy(action)
            action.option_strings = dashed
        return super()._format_action_invocation(action)


def option_strings(parser) -> list[str]:
    # Listed as Beam's own PipelineOptions._warn_on_unknown_options lists them.
    return [name for action in parser._actions for name in action.option_strings]


def unknown_arguments_message(unknown: list[str], known: list[str]) -> str:
    """One line for the arguments no parser took, each option with the closest known one."""
    options = [arg.split("=", 1)[0] for arg in unknown if arg.startswith("-")]
    if not options:
        return f"unexpected argument {unknown[0]!r}"
    suggestions = [difflib.get_close_matches(option, known, n=1) for option in options]
    if len(options) == 1:
        return f"unknown option {options[0]}" + (f"; did you mean {suggestions[0][0]}?" if suggestions[0] else "")
    return "unknown options " + ", ".join(
        option + (f" (did you mean {match[0]}?)" if match else "") for option, match in zip(options, suggestions)
    )


class CommandParser(argparse.ArgumentParser):
    """The parser of one subcommand: `usage: newsbeam COMMAND ...`, defaults in --help,
    and every error (unknown option, missing or bad value) a one-line UsageError."""

    def __init__(self, command: str, **kwargs):
        super().__init__(prog=f"newsbeam {command}", formatter_class=HelpFormatter, allow_abbrev=False, **kwargs)
        if self.add_help:  # main() takes it out of the command line; listed here for --help
            self.add_argument("--debug", action="store_true", help="On an error, show the traceback too.")

    def error(self, message):
        raise UsageError(f"{message}; see `{self.prog} --help`")

    def parse_args(self, args=None, namespace=None):
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            raise UsageError(unknown_arguments_message(unknown, option_strings(self)))
        return parsed


class BeamHelpAction(argparse.Action):
    """--help-beam: list every Beam pipeline option, then exit (as --help does)."""

    def __init__(self, option_strings, dest, help=None):
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from pipeline.options import all_options_parser

        CommandParser(
            parser.prog.split()[-1],
            parents=[all_options_parser()],
            add_help=False,
            usage="%(prog)s [options] [Beam pipeline options]",
            description="Pipeline options of Beam (and newsbeam), passed through to Beam as given.",
        ).print_help()
        parser.exit()


BEAM_OPTIONS_EPILOG = (
    "Beam pipeline options (--runner, --direct_num_workers, --direct_running_mode, "
    "--flink_master, ...) are passed through to Beam; `newsbeam {command} --help-beam` lists them."
)


def command_options_parser(command: str, description: str):
    """-> (the --help parser of `run` or `stream`: newsbeam's options for it, with
    --help-beam; the option strings of the options only the other command takes)."""
    from pipeline.options import ONE_COMMAND_OPTIONS, NewsbeamOptions

    parser = CommandParser(
        command,
        description=description,
        epilog=BEAM_OPTIONS_EPILOG.format(command=command),
        usage="%(prog)s [options] --output DIR [Beam pipeline options]",
    )
    parser.add_argument("--help-beam", action=BeamHelpAction, help="List Beam's pipeline options and exit.")
    NewsbeamOptions._add_argparse_args(parser)
    others: list[str] = []
    for action in parser._actions:
        if ONE_COMMAND_OPTIONS.get(action.dest, command) != command:
            action.help = argparse.SUPPRESS
            others += action.option_strings
    return parser, others


def pipeline_options(command: str, argv: list[str], description: str):
    """The NewsbeamOptions of a `run` or `stream` command line, checked strictly: an
    option that neither newsbeam nor any registered Beam PipelineOptions defines, or one
    of the other command, is a UsageError (Beam itself would only log and drop it)."""
    from pipeline.options import NewsbeamOptions, all_options_parser

    parser, others = command_options_parser(command, description)
    parser.parse_known_args(argv)  # --help and --help-beam print and exit here
    CommandParser(command, parents=[all_options_parser()], add_help=False).parse_args(argv)
    for arg in argv:
        if arg.split("=", 1)[0] in others:
            other = "stream" if command == "run" else "run"
            raise UsageError(f"{arg.split('=', 1)[0]} is an option of `newsbeam {other}`, not of `newsbeam {command}`")
    return NewsbeamOptions(argv)


def preflight(options, inputs: list[str]) -> None:
    """Before any Beam work: the output can be a folder, every remote path's filesystem
    is installed, and Beam knows the runner asked for."""
    from apache_beam.options.pipeline_options import StandardOptions

    from pipeline.preflight import input_problems, output_problem, runner_problem

    runner = options.view_as(StandardOptions).runner
    problems = [output_problem(options.output)] + input_problems(inputs) + [runner and runner_problem(runner)]
    for problem in problems:
        if problem:
            raise UsageError(problem)


def existing_output(output: str) -> str:
    """`output` when it is a folder a newsbeam run wrote to (for query, check, compact)."""
    from pipeline.preflight import existing_output_problem

    problem = existing_output_problem(output)
    if problem:
        raise UsageError(problem)
    return output


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
    if not opts.input and not opts.feed and not opts.feeds_file and not opts.sitemap:
        raise UsageError(
            "give at least one --input PATH_OR_GLOB, --feed URL_OR_FILE, --feeds-file LIST or --sitemap URL"
        )
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
    for sitemap in opts.sitemap:  # a sitemap file is an --input
        if not sitemap.lower().startswith(("http://", "https://")):
            raise UsageError(f"--sitemap takes http(s) URLs (give a sitemap file to --input): {sitemap}")
    if opts.sitemap and opts.fetch_articles is False:
        raise UsageError("--sitemap entries are their pages: it cannot go with --no-fetch-articles")
    check_limits(opts)


def check_limits(opts) -> None:
    """Numbers that must be positive (a zero batch would never fill; a negative wait is none)."""
    for name, value in (
        ("--nlp-batch-chars", opts.nlp_batch_chars),
        ("--http-timeout", opts.http_timeout),
        ("--max-fetch-bytes", opts.max_fetch_bytes),
        ("--per-host-limit", opts.per_host_limit),
    ):
        if value <= 0:
            raise UsageError(f"{name} must be positive: {value}")
    if opts.wait_for_lock < 0:
        raise UsageError(f"--wait-for-lock takes seconds, 0 or more: {opts.wait_for_lock}")
    if opts.checkpoint_minutes < 0:
        raise UsageError(f"--checkpoint-minutes takes minutes, 0 or more: {opts.checkpoint_minutes}")
    if not opts.no_nlp:
        check_spacy_models(opts.spacy_model)


def check_spacy_models(spec: str | None) -> None:
    """A --spacy-model mapping with bad syntax or a model that is not installed stops the
    command before it starts (read from the models' meta.json; nothing is loaded)."""
    from transforms.nlp.inference import language_models

    try:
        language_models(spec)
    except ValueError as error:
        raise UsageError(str(error)) from error


RUN_DESCRIPTION = (
    "A bounded batch run: read files, feeds and pages, parse, deduplicate (also against earlier "
    "runs), find entities and quotes, and commit the tables under --output."
)
STREAM_DESCRIPTION = (
    "An unbounded run: poll feed URLs, and commit what they bring every --window seconds until --duration or Ctrl-C."
)


def run_command(argv: list[str]) -> int:
    from apache_beam.options.pipeline_options import StandardOptions

    from pipeline.options import NewsbeamOptions
    from pipeline.run import feed_outcomes, run_batch
    from pipeline.runners import (
        LOCAL_BATCH_RUNNER,
        flink_job_settings,
        one_job_server,
        use_local_memory_settings,
        without_lifted_combiners,
    )

    options = pipeline_options("run", argv, RUN_DESCRIPTION)
    opts = options.view_as(NewsbeamOptions)
    check_run_arguments(opts)
    preflight(options, opts.input + opts.feeds_file)
    if not options.view_as(StandardOptions).runner:
        options.view_as(StandardOptions).runner = LOCAL_BATCH_RUNNER
    if options.view_as(StandardOptions).runner in (LOCAL_BATCH_RUNNER, "DirectRunner"):
        use_local_memory_settings()
    without_lifted_combiners(options)
    started_at = datetime.now(timezone.utc)
    with flink_job_settings(options), one_job_server(options):
        summary = run_batch(options, opts.run_id or new_run_id(started_at), started_at)
    for line in summary.recovery:
        print(f"recovered: {line}")
    for line in feed_outcomes(opts.output, summary.run_id):
        print(line)
    print(summary.line())
    return 0 if summary.balanced else 1


def stream_command(argv: list[str]) -> int:
    from apache_beam.options.pipeline_options import PrismRunnerOptions, StandardOptions

    from pipeline.options import NewsbeamOptions
    from pipeline.run import feed_outcomes, run_stream
    from pipeline.runners import LOCAL_STREAM_RUNNER, local_prism_binary

    options = pipeline_options("stream", argv, STREAM_DESCRIPTION)
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
    preflight(options, opts.feeds_file)
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
    parser = CommandParser(
        "extract",
        description=(
            "Parse files with the pipeline's parsers and print their entities and quotes as JSON lines (no Beam); "
            "a file it cannot use is a record with an `error`."
        ),
    )
    parser.add_argument(
        "files",
        nargs="+",
        metavar="PATH_OR_GLOB",
        help="Files, folders (read recursively) and globs, as `newsbeam run --input` takes them.",
    )
    parser.add_argument(
        "--spacy-model",
        default=None,
        help="spaCy pipeline per language, LANG=MODEL,... or one pipeline (as `newsbeam run`).",
    )
    parser.add_argument(
        "--nlp-batch-chars",
        type=int,
        default=None,
        help="Longer texts are analysed in pieces of at most this many characters (default 96000).",
    )
    args = parser.parse_args(argv)
    from pipeline.extract import extract_files
    from transforms.nlp.inference import MAX_BATCH_CHARS

    if args.nlp_batch_chars is not None and args.nlp_batch_chars <= 0:
        raise UsageError(f"--nlp-batch-chars must be positive: {args.nlp_batch_chars}")
    check_spacy_models(args.spacy_model)
    for record in extract_files(args.files, args.spacy_model, args.nlp_batch_chars or MAX_BATCH_CHARS):
        print(json.dumps(record, ensure_ascii=False), flush=True)
    return 0


def query_command(argv: list[str]) -> int:
    from schemas.duckdb_views import open_output, view_names
    from schemas.tables import TABLES

    parser = CommandParser(
        "query",
        description=(
            "Run DuckDB SQL over the committed tables of an output. Tables (columns: README, Tables): "
            + ", ".join(TABLES)
            + "; views: "
            + ", ".join(view_names())
            + '. Example: newsbeam query --output DIR "SELECT date, count(*) FROM articles GROUP BY ALL"'
        ),
    )
    parser.add_argument("--output", required=True, help="A folder a newsbeam run wrote to.")
    parser.add_argument("sql", help="SQL over the tables and views above.")
    parser.add_argument("--max-rows", type=int, default=50, help="Most rows to print.")
    args = parser.parse_args(argv)
    import duckdb

    existing_output(args.output)

    def name_bad_file(path, reason):
        print(
            f"newsbeam query: left out corrupt file {path} ({reason}); "
            f"`newsbeam check --output {args.output} --repair` quarantines it",
            file=sys.stderr,
        )

    con = open_output(args.output, on_bad_file=name_bad_file)
    try:
        print(format_table(con.execute(args.sql), args.max_rows))
    except duckdb.Error as error:  # bad SQL, or a file that fails past its footer (named in the message)
        print(
            f"newsbeam query: {str(error).strip().splitlines()[0]}\n"
            "see `newsbeam query --help` for the tables and views",
            file=sys.stderr,
        )
        return 1
    return 0


def output_argument(parser) -> None:
    parser.add_argument("--output", required=True, help="A folder a newsbeam run wrote to.")
    parser.add_argument(
        "--wait-for-lock",
        dest="wait_for_lock",
        type=float,
        default=0.0,
        help="Seconds to wait while a run writes to the output (default 0: refuse).",
    )


def check_command(argv: list[str]) -> int:
    parser = CommandParser(
        "check",
        description=(
            "Verify an output: every committed file readable and of its table's schema, each article id "
            "once, no commit half done, no file outside every commit. Exit 0 when sound."
        ),
    )
    output_argument(parser)
    parser.add_argument(
        "--repair", action="store_true", help="Finish or clear dead commits; move bad files to _quarantine/ (recorded)."
    )
    args = parser.parse_args(argv)
    from pipeline.maintenance import check_output, repair_output

    existing_output(args.output)
    report = repair_output(args.output, args.wait_for_lock) if args.repair else check_output(args.output)
    for line in report.repaired:
        print(f"repaired: {line}")
    for problem in report.problems:
        print(problem.line())
    print(
        f"{report.files_checked} files checked, {len(report.problems)} problems"
        + (f", {len(report.repaired)} repairs" if args.repair else "")
    )
    return 0 if report.clean else 1


def compact_command(argv: list[str]) -> int:
    parser = CommandParser(
        "compact", description=("Merge each partition's files (streams write one per window) into one, as one commit.")
    )
    from schemas.tables import TABLES

    output_argument(parser)
    parser.add_argument("--table", choices=sorted(TABLES), help="Only this table (default: all).")
    parser.add_argument("--before", help="Only partitions dated before YYYY-MM-DD.")
    args = parser.parse_args(argv)
    from pipeline.maintenance import compact_output

    existing_output(args.output)
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
    lines = [" | ".join(n.ljust(w) for n, w in zip(names, widths)), "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(v.ljust(w) for v, w in zip(r, widths)) for r in shown]
    if len(rows) > max_rows:
        lines.append(f"... (more than {max_rows} rows)")
    return "\n".join(lines)


def shorten(value, width: int = 60) -> str:
    text = "NULL" if value is None else str(value).replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def report_command(argv: list[str]) -> int:
    from pipeline.report import report_command as report

    return report(argv)


COMMANDS = {
    "run": run_command,
    "stream": stream_command,
    "extract": extract_command,
    "query": query_command,
    "check": check_command,
    "compact": compact_command,
    "report": report_command,
}


def version_line() -> str:
    from importlib.metadata import version

    return (
        f"newsbeam {version('newsbeam')} (apache-beam {version('apache-beam')}, spacy {version('spacy')}, "
        f"Python {sys.version.split()[0]})"
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    argv = [arg for arg in argv if arg != "--debug"]
    # Beam logs import-time noise (missing optional GCP clients) as warnings.
    logging.basicConfig(level=logging.WARNING if debug else logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    # Beam logs a worker's exception with its traceback before re-raising it; the
    # exception itself reaches the user (one line when it is an operator's error).
    logging.getLogger("apache_beam").setLevel(logging.WARNING if debug else logging.CRITICAL)
    if not argv:
        print(USAGE + HELP_FOOTER, file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help", "help"):
        if argv[0] == "help" and argv[1:2] and argv[1] in COMMANDS:
            return COMMANDS[argv[1]](["--help"])
        print(USAGE + HELP_FOOTER)
        return 0
    if argv[0] == "--version":
        print(version_line())
        return 0
    if argv[0] not in COMMANDS:
        match = difflib.get_close_matches(argv[0], list(COMMANDS), n=1)
        print(
            f"newsbeam: unknown command {argv[0]!r}"
            + (f"; did you mean {match[0]}?" if match else "")
            + " (`newsbeam --help` lists the commands)",
            file=sys.stderr,
        )
        return 2
    command = argv[0]
    from pipeline.integrity import CountsDisagree
    from pipeline.output_lock import OutputLocked
    from pipeline.run import Interrupted, OperatorError

    def fail(message: str, code: int) -> int:
        if debug:
            traceback.print_exc()
        print(f"newsbeam {command}: {message}", file=sys.stderr)
        return code

    try:
        return COMMANDS[command](argv[1:])
    except UsageError as error:
        return fail(str(error), 2)
    except OutputLocked as error:
        return fail(str(error), EXIT_LOCKED)
    except (OperatorError, CountsDisagree) as error:
        return fail(str(error), 1)
    except Interrupted as error:
        return fail(str(error), 130)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except Exception as error:  # noqa: BLE001 -- unforeseen (a bug): said in two lines, the traceback with --debug
        message = " ".join(str(error).split())  # runners' messages span lines: keep it to one
        return fail(
            f"unexpected {type(error).__name__}: {shorten(message, 400)}"
            + (
                ""
                if debug
                else "\nrerun with --debug for the traceback, and report it if it looks like newsbeam's fault"
            ),
            1,
        )
