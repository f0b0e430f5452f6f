"""The seeds pipeline on each runner gives the same tables (`make test-runners`).

1. the in-process batch engine (what DirectRunner picks for batch),
2. the same with 2 worker processes,
3. PortableRunner with an embedded job server and LOOPBACK workers,
4. FlinkRunner on an embedded Flink mini-cluster, through Beam's Flink job server.
The Flink job server is not published as a jar for any Beam version the registry
serves; `scripts/fetch_flink_jobserver.sh` assembles it from Beam 2.62.0's
beam-runners-flink-1.19 library. The main install's Python SDK (2.77) submits to it:
tests/test_flink_cluster.py runs the same pipeline on a real Flink session cluster.
"""

import os
import subprocess
import sys

import pytest
from conftest import REPO, SEEDS
from feed_server import FeedServer, Response, rss_feed

from schemas.duckdb_views import open_output

sys.path.insert(0, str(REPO / "bench"))
from snapshot import comparable_tables as snapshot  # noqa: E402  # the runner-independent columns

pytestmark = pytest.mark.runners
FETCH_JOBSERVER = REPO / "scripts" / "fetch_flink_jobserver.sh"
TIMEOUT = 600


def flink_args(master: str = "[local]") -> list[str]:
    """FlinkRunner through the assembled 2.62 job server (started by the SDK for the run),
    with the Python workers in the submitting process (LOOPBACK)."""
    fetched = subprocess.run(["bash", str(FETCH_JOBSERVER)], capture_output=True, text=True, cwd=REPO)
    if fetched.returncode != 0:
        pytest.skip(f"Flink job server not available (`make flink` fetches it): {fetched.stderr.strip()[-300:]}")
    return [
        "--runner=FlinkRunner",
        f"--flink_job_server_jar={fetched.stdout.strip()}",
        f"--flink_master={master}",
        "--environment_type=LOOPBACK",
        "--job_server_jvm_properties=-Xmx768m",
    ]


RUNNERS = {
    "in_process": (sys.executable, []),
    "multi_process": (sys.executable, ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]),
    "portable_embed": (
        sys.executable,
        ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"],
    ),
    "flink": (sys.executable, None),
}


def newsbeam(python: str, command: str, args: list[str]) -> subprocess.CompletedProcess:
    """Run the CLI in its own process group, killed whole (with any JVM) on timeout."""
    process = subprocess.Popen(
        [python, "-m", "pipeline", command, *args],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    output = tmp_path_factory.mktemp("reference") / "out"
    done = newsbeam(sys.executable, "run", ["--input", str(SEEDS), "--output", str(output)])
    assert done.returncode == 0, done.stderr[-3000:]
    return snapshot(output)


@pytest.mark.parametrize("name", list(RUNNERS))
def test_seeds_give_identical_tables_on_every_runner(name, tmp_path, reference):
    python, extra = RUNNERS[name]
    extra = flink_args() if extra is None else extra
    output = tmp_path / "out"
    done = newsbeam(python, "run", ["--input", str(SEEDS), "--output", str(output), *extra])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[inputs = articles + duplicates + rejects: ok]" in done.stdout
    tables = snapshot(output)
    assert len(tables["articles"]) == 4 and len(tables["quotes"]) > 10
    assert tables == reference


def test_short_stream_on_flink_against_the_local_feed_server(tmp_path):
    extra = flink_args()
    entries = [
        (f"Story {n}", f"http://127.0.0.1/s/{n}", f"<p>Story {n} text, told in its own words.</p>") for n in (1, 2, 3)
    ]
    output = tmp_path / "out"
    with FeedServer() as server:
        server.route(
            "/live.xml", lambda r: Response(200, {"Content-Type": "application/rss+xml"}, rss_feed("Live", entries))
        )
        done = newsbeam(
            sys.executable,
            "stream",
            [
                "--feed",
                server.url("/live.xml"),
                "--output",
                str(output),
                "--poll-interval",
                "2",
                "--window",
                "4",
                "--duration",
                "15",
                "--allow-private-hosts",
                "--no-fetch-articles",
                "--no-nlp",
                *extra,
            ],
        )
    assert done.returncode == 0, done.stderr[-3000:]
    titles = open_output(str(output)).execute("SELECT title FROM articles ORDER BY title").fetchall()
    assert titles == [("Story 1",), ("Story 2",), ("Story 3",)]
