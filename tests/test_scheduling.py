"""The scheduling recipes of deploy/ run for real (`make test-runners`).

- Airflow: `airflow dags test` (Airflow and the Apache Beam provider in .venv-airflow,
  `make airflow`; SQLite metadata database in a temporary AIRFLOW_HOME) runs
  deploy/airflow/newsbeam_dag.py's BeamRunPythonPipelineOperator on the seeds, on
  DirectRunner and on the Flink session cluster through the job server; the tables are
  read back with DuckDB and compared with a plain run's.
- cron and systemd: the units pass `systemd-analyze verify`, and their command line, run
  twice at once on one output, gives one run that writes, one that refuses (exit 75) and
  one that waits for the lock and then adds nothing twice.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

import pytest
from conftest import REPO, SEEDS
from feed_server import FeedServer, Response, rss_feed
from test_runners import TIMEOUT, flink_args, reference, snapshot  # noqa: F401 (fixture)

from schemas.duckdb_views import open_output

pytestmark = pytest.mark.runners
DEPLOY = REPO / "deploy"
AIRFLOW = REPO / ".venv-airflow" / "bin" / "airflow"
EX_TEMPFAIL = 75


# --- Airflow ---------------------------------------------------------------------------


def run(command: list[str], env: dict, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """Run in its own process group, killed whole (pipeline, job server) on timeout."""
    process = subprocess.Popen(
        command, cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.communicate()
        raise
    return subprocess.CompletedProcess(command, process.returncode, out, "")


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory):
    """An Airflow home with a fresh SQLite metadata database and the DAGs of deploy/airflow."""
    if not AIRFLOW.exists():
        pytest.skip("no .venv-airflow: `make airflow` installs Airflow and the Beam provider (constraints-airflow.txt)")
    home = tmp_path_factory.mktemp("airflow-home")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DEPLOY / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "NEWSBEAM_PYTHON": sys.executable,
        "NEWSBEAM_RETRIES": "0",
    }
    migrated = run([str(AIRFLOW), "db", "migrate"], env, timeout=300)
    assert migrated.returncode == 0, migrated.stdout[-3000:]
    return env


def dag_test(env: dict, dag_id: str, **settings) -> dict:
    """`airflow dags test DAG_ID` with NEWSBEAM_* settings; returns the DAG run as Airflow recorded it."""
    env = {**env, **{f"NEWSBEAM_{name.upper()}": str(value) for name, value in settings.items()}}
    started = time.monotonic()
    done = run([str(AIRFLOW), "dags", "test", dag_id], env)
    print(f"airflow dags test {dag_id}: {time.monotonic() - started:.1f} s")
    assert done.returncode == 0, done.stdout[-5000:]
    assert "[inputs = articles + duplicates + rejects: ok]" in done.stdout
    listed = run([str(AIRFLOW), "dags", "list-runs", dag_id, "-o", "json"], env, timeout=120)
    runs = json.loads(listed.stdout.strip().splitlines()[-1])
    return runs[0]


def test_airflow_dag_on_direct_runner(airflow_env, tmp_path, reference):
    output = tmp_path / "out"
    dag_run = dag_test(airflow_env, "newsbeam_batch", inputs=SEEDS, output=output)
    assert dag_run["state"] == "success"
    assert snapshot(output) == reference


def test_airflow_dag_on_the_flink_cluster(airflow_env, flink_cluster, tmp_path, reference):
    jar = next(arg.split("=", 1)[1] for arg in flink_args() if arg.startswith("--flink_job_server_jar="))
    before = flink_cluster.jobs()
    output = tmp_path / "out"
    dag_run = dag_test(
        airflow_env,
        "newsbeam_batch_flink",
        inputs=SEEDS,
        output=output,
        flink_master=flink_cluster.address,
        flink_job_server_jar=jar,
    )
    assert dag_run["state"] == "success"
    new = {jid: state for jid, state in flink_cluster.jobs().items() if jid not in before}
    assert list(new.values()) == ["FINISHED"]
    assert snapshot(output) == reference


# --- cron and systemd ----------------------------------------------------------------------


def cron_command() -> str:
    """The command of the crontab line in deploy/cron/newsbeam.cron."""
    lines = [
        line
        for line in (DEPLOY / "cron" / "newsbeam.cron").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(lines) == 1, lines
    return lines[0].split(None, 5)[5]


def service_setting(name: str) -> str:
    text = (DEPLOY / "systemd" / "newsbeam-batch.service").read_text()
    return re.search(rf"^{name}=(.*)$", text, re.M).group(1)


def test_systemd_units_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("no systemd-analyze on this machine (Debian: apt-get install systemd)")
    # as installed from this checkout: its paths in place of /srv/newsbeam, run as root
    for name in ("newsbeam-batch.service", "newsbeam-batch.timer"):
        text = (DEPLOY / "systemd" / name).read_text().replace("/srv/newsbeam", str(REPO))
        (tmp_path / name).write_text(text.replace("User=newsbeam", "User=root"))
    verified = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "newsbeam-batch.service"), str(tmp_path / "newsbeam-batch.timer")],
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0 and not verified.stderr.strip(), verified.stderr
    calendar = subprocess.run(["systemd-analyze", "calendar", "*:0/30"], capture_output=True, text=True)
    assert calendar.returncode == 0 and "*-*-* *:00/30:00" in calendar.stdout
    assert service_setting("SuccessExitStatus") == str(EX_TEMPFAIL)


def test_the_recipe_run_twice_at_once_one_writes_one_refuses_one_waits(tmp_path):
    """Like cron or systemd firing while the previous run still writes: run A holds the
    output (its feed answers slowly); B, the same command with --wait-for-lock 0, refuses
    at once with exit 75; C, the cron line as written (--wait-for-lock 900), waits for A
    and then finds everything stored."""
    checkout, output, log = tmp_path / "srv", tmp_path / "data" / "news", tmp_path / "newsbeam.log"
    checkout.mkdir()
    (checkout / ".venv").symlink_to(REPO / ".venv")
    calls = []

    def slow_first(request):
        calls.append(time.monotonic())
        entries = [
            (f"Story {n}", f"http://127.0.0.1/s/{n}", f"<p>Story {n} says something of its own, number {n}.</p>")
            for n in (1, 2, 3)
        ]
        return Response(
            200,
            {"Content-Type": "application/rss+xml"},
            rss_feed("Slow desk", entries),
            delay=8 if len(calls) == 1 else 0,
        )

    with FeedServer() as server:
        server.route("/slow.xml", slow_first)
        (checkout / "feeds.txt").write_text(f"{server.url('/slow.xml')}\n")
        line = (
            cron_command()
            .replace("/srv/newsbeam", str(checkout))
            .replace("/data/news", str(output))
            .replace("/var/log/newsbeam.log", str(log))
        )
        # the feed is on 127.0.0.1, which the SSRF guard refuses unless told; no NLP: faster
        line = line.replace(" --wait-for-lock ", " --allow-private-hosts --no-nlp --wait-for-lock ")
        assert "--wait-for-lock 900" in line and str(checkout) in line
        service = shlex.split(
            service_setting("ExecStart").replace("/srv/newsbeam", str(checkout)).replace("/data/news", str(output))
        )
        refusing = [arg if arg != "900" else "0" for arg in service] + ["--allow-private-hosts", "--no-nlp"]

        a = subprocess.Popen(["bash", "-c", line], start_new_session=True)
        deadline = time.monotonic() + 60
        while not calls and time.monotonic() < deadline:  # A holds the lock and waits for its feed
            time.sleep(0.1)
        assert calls, "run A never asked for its feed"
        b = subprocess.run(refusing, cwd=checkout, capture_output=True, text=True, timeout=120)
        c = subprocess.Popen(["bash", "-c", line], start_new_session=True)
        assert a.wait(timeout=TIMEOUT) == 0, log.read_text()[-3000:]
        assert c.wait(timeout=TIMEOUT) == 0, log.read_text()[-3000:]
    assert b.returncode == EX_TEMPFAIL, b.stdout + b.stderr
    assert "--wait-for-lock" in b.stderr + b.stdout  # the one line says who holds it and what to do
    summaries = [line for line in log.read_text().splitlines() if line.startswith("run ")]
    assert len(summaries) == 2, log.read_text()[-3000:]
    assert "articles=3" in summaries[0]
    assert "articles=0" in summaries[1]
    con = open_output(str(output))
    assert con.execute("SELECT count(*), count(DISTINCT article_id) FROM articles").fetchone() == (3, 3)
