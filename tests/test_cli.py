"""The command line as a user meets it: help, strict options, one-line errors with the
remedy, preflight before any work. Each command is the real one (the installed
`newsbeam` script in a subprocess); the parsing helpers are also tested on their own."""

import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from apache_beam.options.pipeline_options import StandardOptions
from conftest import REPO, SEEDS

from pipeline.cli import RUN_DESCRIPTION, UsageError, pipeline_options, unknown_arguments_message
from pipeline.options import ONE_COMMAND_OPTIONS, all_options_parser
from pipeline.preflight import FILESYSTEM_EXTRAS, existing_output_problem, is_installed, output_problem
from schemas.duckdb_views import open_output

NEWSBEAM = Path(sys.executable).with_name("newsbeam")  # the console script setup.py installs

# Runs the CLI with boto3 made unimportable, for a venv where it is installed.
BLOCK_BOTO3 = """
import sys
class BlockBoto3:
    def find_spec(self, name, path=None, target=None):
        if name == "boto3" or name.startswith("boto3."):
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, BlockBoto3())
from pipeline.cli import main
sys.exit(main(sys.argv[1:]))
"""


def newsbeam(*args: str, command=None) -> tuple[int, str, str]:
    result = subprocess.run(command or [str(NEWSBEAM), *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout, result.stderr


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def default_of(dest: str):
    return all_options_parser().get_default(dest)


# --- help and version ------------------------------------------------------------------


def test_top_level_help_goes_to_stdout_and_exits_0():
    code, out, err = newsbeam("--help")
    assert code == 0 and err == ""
    assert out.startswith("usage: newsbeam COMMAND") and "newsbeam COMMAND --help" in out
    for command in ("run", "stream", "extract", "query", "check", "compact"):
        assert f"\n  {command} " in out


def test_no_command_is_a_usage_error_and_a_misspelt_one_gets_a_suggestion():
    code, out, err = newsbeam()
    assert code == 2 and out == "" and err.startswith("usage: newsbeam COMMAND")
    code, out, err = newsbeam("rn", "--input", "x")
    assert (
        code == 2
        and one_line(err) == "newsbeam: unknown command 'rn'; did you mean run? (`newsbeam --help` lists the commands)"
    )


def test_version_comes_from_the_package_metadata():
    code, out, err = newsbeam("--version")
    assert code == 0 and err == ""
    assert one_line(out).startswith(f"newsbeam {importlib.metadata.version('newsbeam')} (apache-beam ")


def test_run_help_lists_its_own_options_with_defaults_and_points_to_beam_options():
    code, out, err = newsbeam("run", "--help")
    assert code == 0 and err == ""
    assert out.startswith("usage: newsbeam run ")
    flat = " ".join(out.split())  # argparse wraps help text
    assert "--near-dup-threshold NEAR_DUP_THRESHOLD Shingle containment" in flat
    assert f"(default: {default_of('near_dup_threshold')})" in flat
    assert f"(default: {default_of('checkpoint_minutes')})" in flat
    assert "--run_id" not in out  # each option once, in its dashed spelling
    stream_only = [dest for dest, command in ONE_COMMAND_OPTIONS.items() if command == "stream"]
    for dest in stream_only:
        assert f"--{dest.replace('_', '-')}" not in out
    assert flat.endswith("`newsbeam run --help-beam` lists them.")
    assert "--runner" in out


def test_stream_help_is_its_own():
    code, out, err = newsbeam("stream", "--help")
    assert code == 0 and out.startswith("usage: newsbeam stream ")
    flat = " ".join(out.split())
    assert (
        f"--poll-interval POLL_INTERVAL stream: seconds between polls of every feed. "
        f"(default: {default_of('poll_interval')})" in flat
    )
    assert "--input" not in out and "--checkpoint-minutes" not in out
    assert "`newsbeam stream --help-beam`" in flat


def test_help_beam_lists_beam_pipeline_options():
    code, out, err = newsbeam("run", "--help-beam")
    assert code == 0 and out.startswith("usage: newsbeam run ")
    for option in ("--runner", "--direct_num_workers", "--direct_running_mode", "--flink_master"):
        assert option in out


def test_every_command_has_help_headed_with_its_name():
    for command in ("extract", "query", "check", "compact"):
        code, out, err = newsbeam(command, "--help")
        assert code == 0 and out.startswith(f"usage: newsbeam {command} "), (command, out, err)
    code, out, _ = newsbeam("query", "--help")
    flat = " ".join(out.split())
    assert "articles, entities, quotes, rejects" in flat and "latest_articles" in flat
    assert "(default: 50)" in flat


# --- strict options ----------------------------------------------------------------------


def test_misspelt_options_of_a_default_run_stop_it_before_any_work(tmp_path):
    output = tmp_path / "out"
    code, out, err = newsbeam(
        "run", "--input", str(SEEDS), "--output", str(output), "--run-idd", "x", "--near-dup-treshold", "0.9"
    )
    assert code == 2 and out == ""
    assert one_line(err) == (
        "newsbeam run: unknown options --run-idd (did you mean --run-id?), "
        "--near-dup-treshold (did you mean --near-dup-threshold?)"
    )
    assert not output.exists()


def test_a_misspelt_input_is_named_not_taken_for_a_missing_one(tmp_path):
    code, _, err = newsbeam("run", "--inptu", str(SEEDS), "--output", str(tmp_path / "out"), "--no-nlp")
    assert code == 2 and one_line(err) == "newsbeam run: unknown option --inptu; did you mean --input?"


def test_an_option_of_the_other_command_and_a_bad_value_are_one_line(tmp_path):
    code, _, err = newsbeam("run", "--input", str(SEEDS), "--output", str(tmp_path / "out"), "--window", "5")
    assert (
        code == 2 and one_line(err) == "newsbeam run: --window is an option of `newsbeam stream`, not of `newsbeam run`"
    )
    code, _, err = newsbeam(
        "run", "--input", str(SEEDS), "--output", str(tmp_path / "out"), "--near-dup-threshold", "high"
    )
    assert code == 2 and "invalid float value: 'high'" in one_line(err) and "`newsbeam run --help`" in err
    code, _, err = newsbeam("query", "--output", str(tmp_path), "--max-rowz", "3", "SELECT 1")
    assert code == 2 and one_line(err) == "newsbeam query: unknown option --max-rowz; did you mean --max-rows?"


def test_both_option_forms_flags_and_beam_options_run(tmp_path):
    output = tmp_path / "out"
    code, out, err = newsbeam(
        "run",
        f"--input={SEEDS}",
        "--output",
        str(output),
        "--no-nlp",
        "--run-id=cli-forms",
        "--near-dup-threshold",
        "0.9",
        "--direct_num_workers=1",
    )
    assert code == 0, err
    assert "run cli-forms: " in out and "Traceback" not in out + err
    runs = open_output(str(output)).execute("SELECT DISTINCT run_id FROM articles").fetchall()
    assert runs == [("cli-forms",)]


@pytest.mark.parametrize(
    "argv",
    [
        ["--input=a", "--output", "o", "--near-dup-threshold=0.9", "--no-nlp", "--runner", "FnApiRunner"],
        ["--input", "a", "--output=o", "--near_dup_threshold", "0.9", "--no_nlp", "--runner=FnApiRunner"],
    ],
)
def test_pipeline_options_take_both_spellings_and_forms(argv):
    options = pipeline_options("run", argv, RUN_DESCRIPTION)
    assert (
        options.input,
        options.output,
        options.near_dup_threshold,
        options.no_nlp,
        options.view_as(StandardOptions).runner,
    ) == (["a"], "o", 0.9, True, "FnApiRunner")


def test_pipeline_options_refuse_what_beam_would_drop():
    with pytest.raises(UsageError, match="unknown option --direct-num-workers; did you mean --direct_num_workers"):
        pipeline_options("run", ["--output", "o", "--direct-num-workers", "2"], RUN_DESCRIPTION)
    with pytest.raises(UsageError, match="unexpected argument 'stray'"):
        pipeline_options("run", ["--output", "o", "--no-nlp", "stray"], RUN_DESCRIPTION)
    with pytest.raises(UsageError, match="ignored explicit argument"):
        pipeline_options("run", ["--output", "o", "--no-nlp=yes"], RUN_DESCRIPTION)
    with pytest.raises(UsageError, match="expected one argument"):
        pipeline_options("run", ["--output", "o", "--run-id"], RUN_DESCRIPTION)


def test_unknown_arguments_message():
    known = ["--input", "--output", "--run-id", "--run_id"]
    assert unknown_arguments_message(["--ouptut=x"], known) == "unknown option --ouptut; did you mean --output?"
    assert unknown_arguments_message(["--zzz", "1"], known) == "unknown option --zzz"
    assert unknown_arguments_message(["stray"], known) == "unexpected argument 'stray'"
    assert (
        unknown_arguments_message(["--inptu", "--run-idd"], known)
        == "unknown options --inptu (did you mean --input?), --run-idd (did you mean --run-id?)"
    )


# --- errors that say what to do -------------------------------------------------------------


@pytest.fixture(scope="module")
def small_output(tmp_path_factory):
    output = tmp_path_factory.mktemp("cli") / "out"
    code, _, err = newsbeam("run", "--input", str(SEEDS), "--output", str(output), "--no-nlp")
    assert code == 0, err
    return output


def test_bad_sql_is_duckdbs_first_line_and_where_to_look(small_output):
    sql = "SELEC count(*) FROM articles"
    with pytest.raises(duckdb.Error) as expected:
        duckdb.connect().execute(sql)
    code, out, err = newsbeam("query", "--output", str(small_output), sql)
    assert code == 1 and out == "" and "Traceback" not in err
    assert err.splitlines() == [
        f"newsbeam query: {str(expected.value).strip().splitlines()[0]}",
        "see `newsbeam query --help` for the tables and views",
    ]


@pytest.mark.parametrize("command", [["query", "SELECT count(*) FROM articles"], ["check"], ["compact"]])
def test_a_folder_that_is_no_newsbeam_output_is_refused_and_left_as_it_was(tmp_path, command):
    (tmp_path / "notes.txt").write_text("not an output")
    code, out, err = newsbeam(command[0], "--output", str(tmp_path), *command[1:])
    assert code == 2 and out == "", (out, err)
    assert one_line(err) == (
        f"newsbeam {command[0]}: {tmp_path} is not a newsbeam output "
        "(no _newsbeam.json or _runs); give the folder a run wrote to"
    )
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_a_newsbeam_output_is_recognised(small_output):
    assert existing_output_problem(str(small_output)) is None
    code, out, err = newsbeam("query", "--output", str(small_output), "SELECT count(*) AS n FROM articles")
    assert code == 0 and err == "" and out.split()[0] == "n"


def boto3_absent_command(*args: str) -> list[str]:
    """The command with boto3 missing: as it is when it is not installed, else blocked by a finder."""
    if not is_installed("boto3"):
        return [str(NEWSBEAM), *args]
    return [sys.executable, "-c", BLOCK_BOTO3, *args]


def test_an_s3_output_without_boto3_says_which_extra_before_any_work(tmp_path):
    args = ["run", "--input", str(SEEDS), "--output", "s3://bucket/x"]
    code, out, err = newsbeam(command=boto3_absent_command(*args))
    needed = FILESYSTEM_EXTRAS["s3"]
    assert code == 2 and out == ""
    assert one_line(err) == (
        f"newsbeam run: s3:// paths need {needed.package}, which is not installed: "
        f"install newsbeam[{needed.extra}] (pip install 'newsbeam[{needed.extra}]')"
    )
    code, _, err = newsbeam(command=boto3_absent_command(*args, "--debug"))
    assert code == 2 and "Traceback" in err and err.strip().endswith(f"pip install 'newsbeam[{needed.extra}]')")


@pytest.mark.skipif(
    is_installed(FILESYSTEM_EXTRAS["gs"].module),
    reason="google-cloud-storage is installed here: the gs:// filesystem works",
)
def test_a_gs_input_without_google_cloud_storage_says_which_extra(tmp_path):
    code, _, err = newsbeam("run", "--input", "gs://bucket/articles/*.json", "--output", str(tmp_path / "out"))
    assert code == 2 and one_line(err).endswith("install newsbeam[gcp] (pip install 'newsbeam[gcp]')")
    assert not (tmp_path / "out").exists()


def test_an_output_under_a_file_is_one_line_before_any_work(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, out, err = newsbeam("run", "--input", str(SEEDS), "--output", str(blocker / "out"), "--no-nlp")
    assert (
        code == 2
        and one_line(err)
        == f"newsbeam run: {blocker} is a file, not a folder: give --output a folder (new or one a run wrote to)"
    )
    assert output_problem(str(tmp_path / "new" / "out")) is None


# Runs the CLI with the batch run replaced by one that fails as a bug would.
FAILING_RUN = """
import sys
import pipeline.run
def fail(*args, **kwargs):
    raise RuntimeError("a bug\\nover two lines")
pipeline.run.run_batch = fail
from pipeline.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_wrong_runner_is_beams_message_before_any_work(tmp_path):
    code, _, err = newsbeam(
        "run", "--input", str(SEEDS), "--output", str(tmp_path / "out"), "--no-nlp", "--runner", "NoSuchRunner"
    )
    assert code == 2 and one_line(err).startswith("newsbeam run: Unexpected pipeline runner: NoSuchRunner. Valid")
    assert not (tmp_path / "out").exists()


def test_an_unforeseen_error_is_two_lines_and_the_traceback_comes_with_debug(tmp_path):
    args = ["run", "--input", str(SEEDS), "--output", str(tmp_path / "out"), "--no-nlp"]
    code, out, err = newsbeam(command=[sys.executable, "-c", FAILING_RUN, *args])
    assert code == 1 and "Traceback" not in err
    # (the launcher imports Beam before main() quiets its import-time warning: skip that line)
    assert err.splitlines()[-2:] == [
        "newsbeam run: unexpected RuntimeError: a bug over two lines",
        "rerun with --debug for the traceback, and report it if it looks like newsbeam's fault",
    ]
    code, out, err = newsbeam(command=[sys.executable, "-c", FAILING_RUN, *args, "--debug"])
    assert code == 1 and "Traceback" in err and "in run_command" in err
    assert "newsbeam run: unexpected RuntimeError: a bug over two lines" in err.splitlines()


# --- extract takes what run takes ---------------------------------------------------------


def test_extract_takes_folders_and_globs_as_run_does(tmp_path):
    no_match = str(tmp_path / "*.none")
    code, out, err = newsbeam("extract", str(SEEDS), str(SEEDS / "*.rss"), no_match)
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    seed_files = sorted(str(SEEDS / name) for name in os.listdir(SEEDS) if not name.startswith("."))
    from_folder = [r for r in records if r["path"].split("#")[0] in seed_files]
    rss_of_folder = [r for r in from_folder if r["path"].split("#")[0].endswith(".rss")]
    assert sorted({r["path"].split("#")[0] for r in from_folder}) == seed_files
    assert rss_of_folder and records[-len(rss_of_folder) - 1 : -1] == rss_of_folder  # the glob's records
    assert records[-1] == {"path": no_match, "error": "read/unreadable: no file matches"}
    assert any(r["entities"] for r in from_folder)


def test_ctrl_c_during_extract_is_one_line_and_exit_130(tmp_path):
    for copy in range(40):  # enough files that the first record comes well before the last
        shutil.copy(SEEDS / "000_985378199c8bf71d.txt", tmp_path / f"{copy:02d}.txt")
    process = subprocess.Popen(
        [str(NEWSBEAM), "extract", str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    first = process.stdout.readline()
    process.send_signal(signal.SIGINT)
    rest, err = process.communicate(timeout=120)
    assert json.loads(first)["entities"]
    assert process.returncode == 130 and one_line(err) == "newsbeam extract: interrupted"
    assert len((first + rest).splitlines()) < 40


def test_query_help_names_every_table_and_view_a_query_can_use(small_output):
    """The help names exactly what `newsbeam query` opens on a real output."""
    code, out, _ = newsbeam("query", "--help")
    assert code == 0
    help_text = " ".join(out.split())
    relations = {
        name
        for (name,) in open_output(str(small_output))
        .execute("SELECT table_name FROM information_schema.tables")
        .fetchall()
    }
    assert relations >= {"articles", "latest_articles", "entities_resolved", "quotes_resolved", "entity_aliases"}
    assert all(name in help_text for name in relations), sorted(name for name in relations if name not in help_text)
