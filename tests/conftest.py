"""Shared fixtures: the real spaCy model, the seeds, ../shared, and Beam test pipelines."""

import signal
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
SEED_ARTICLE = SEEDS / "000_985378199c8bf71d.txt"
SHARED = REPO.parent / "shared"
# The batch runner DirectRunner picks, named directly: DirectRunner would first try
# to download Prism, which needs the network.
from pipeline.runners import LOCAL_BATCH_RUNNER as FN_API_RUNNER  # noqa: E402

MULTI_WORKER_ARGS = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]


def pytest_configure(config):
    """Started in the background by a shell without job control (`make test &`, nohup),
    pytest gets SIGINT ignored, and every process it starts inherits that: the tests
    that press Ctrl-C at a newsbeam command would see it ignored, which never happens
    to a user at a terminal. Handled as Python handles it by default, SIGINT reaches
    each started command at its default again (an exec resets handlers, not ignores)."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def beam_pipeline(*args: str) -> TestPipeline:
    """A TestPipeline on the in-process batch runner (extra Beam flags in args)."""
    return TestPipeline(runner=FN_API_RUNNER, options=PipelineOptions(list(args)))


@pytest.fixture(scope="session")
def nlp():
    from transforms.nlp.inference import load_spacy_model

    return load_spacy_model()


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present: ../shared is provided beside the repo on dev and CI machines only")
    return path


# --- a real Flink session cluster (tests marked `runners`) ---------------------------


class FlinkCluster:
    """A running session cluster: JobManager and TaskManager JVMs from scripts/flink_cluster.sh."""

    def __init__(self, address: str, directory: Path, start_seconds: float):
        self.address = address  # "127.0.0.1:PORT", for --flink_master
        self.directory = directory  # conf/, PID files, logs
        self.start_seconds = start_seconds

    def rest(self, path: str, method: str = "GET", body: dict | None = None):
        import json
        import urllib.request

        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"http://{self.address}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    def jobs(self) -> dict:
        """Job id -> state, from the REST API's /jobs/overview."""
        return {job["jid"]: job["state"] for job in self.rest("/jobs/overview")["jobs"]}

    def logs(self, lines: int = 40) -> str:
        tails = []
        for name in ("jobmanager.log", "taskmanager.log"):
            path = self.directory / name
            if path.exists():
                tails.append(f"--- {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(tails)


@pytest.fixture(scope="session")
def flink_cluster(request):
    """Start a Flink session cluster for the session and stop it at the end, whatever
    happened: the fixture's teardown stops both JVMs by PID, and the script's watcher
    stops them if this pytest process dies without a teardown (SIGKILL, timeout)."""
    import os
    import shutil
    import subprocess
    import time

    if shutil.which("java") is None:
        pytest.skip("no `java` on PATH: the Flink cluster needs a JDK 11/17")
    directory = REPO / ".cache" / "flink-clusters" / f"pytest-{os.getpid()}"
    env = {**os.environ, "FLINK_CLUSTER_DIR": str(directory), "FLINK_CLUSTER_OWNER_PID": str(os.getpid())}
    script = ["bash", str(REPO / "scripts" / "flink_cluster.sh")]

    def stop():
        subprocess.run([*script, "stop"], env=env, capture_output=True, text=True, timeout=120)

    started = time.monotonic()
    try:
        up = subprocess.run([*script, "start"], env=env, capture_output=True, text=True, timeout=300)
    except BaseException:
        stop()
        raise
    if up.returncode != 0:
        stop()
        pytest.fail(f"the Flink cluster did not start:\n{up.stderr[-4000:]}")
    cluster = FlinkCluster(up.stdout.strip(), directory, time.monotonic() - started)
    print(f"\nFlink session cluster at {cluster.address}: up in {cluster.start_seconds:.1f} s")
    try:
        yield cluster
    finally:
        stop()
        if request.session.testsfailed == 0:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            print(f"\nFlink cluster logs kept in {directory}")
