"""newsbeam on a real Flink session cluster (`make test-runners`).

The `flink_cluster` fixture (conftest.py) starts a JobManager and a TaskManager, each
its own JVM, with scripts/flink_cluster.sh, from the Flink 1.19.0 jars of the job server
that scripts/fetch_flink_jobserver.sh assembles. Every run here goes through Beam's
Flink job server (2.62) with `--flink_master=127.0.0.1:PORT`, submitted by the main
install's Python SDK (2.77) with LOOPBACK workers, and is checked twice: its tables
against the in-process engine's (what DirectRunner runs for batch) on the same input,
and its job's final state in the cluster's REST API (`/jobs/overview`).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import apache_beam as beam
import psutil
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from conftest import REPO, SEEDS
from feed_server import FeedServer, Response, article_page, rss_feed
from test_runners import flink_args, newsbeam, reference, snapshot  # noqa: F401 (fixture)

from pipeline.options import FlinkJobOptions
from pipeline.runners import flink_job_settings, without_lifted_combiners
from schemas.duckdb_views import open_output

pytestmark = pytest.mark.runners

# Three distinct stories with people, places and quotes, so entities and quotes are compared too.
STORIES = {
    1: (
        "Harbour plan wins council vote",
        [
            "The city council of Springfield approved the harbour plan on Tuesday after a long debate.",
            '"This is a good day for the waterfront," said Maria Lopez, the mayor of Springfield.',
            "Critics led by Tom Baker of the Residents Association said they would appeal the decision.",
        ],
    ),
    2: (
        "Rail strike ends after talks",
        [
            "Train drivers in Leeds returned to work on Monday after the union reached a deal with Northern Rail.",
            '"Our members have secured a fair offer," Sarah Khan, the union\'s general secretary, told reporters.',
            "Services across Yorkshire were expected to run normally by Wednesday morning.",
        ],
    ),
    3: (
        "Museum reopens with new wing",
        [
            "The National Museum in Cardiff reopened its doors on Saturday with a new wing for Welsh art.",
            '"We wanted every visitor to find something of their own here," said director Owen Price.',
            "The building work took three years and cost the Welsh Government twelve million pounds.",
        ],
    ),
}


def serve_stories(server: FeedServer, numbers) -> str:
    """A feed of `numbers` (entries carry a short summary; the page has the full text) and
    each story's page; returns the feed URL."""
    entries = []
    for n in numbers:
        title, paragraphs = STORIES[n]
        url = server.url(f"/news/{n}")
        page = article_page(title, paragraphs, url, "Desk Reporter", "2026-11-20T09:00:00Z")
        server.route(f"/news/{n}", lambda r, page=page: Response(200, {"Content-Type": "text/html"}, page))
        entries.append((title, url, " ".join(f"<p>{p}</p>" for p in paragraphs[:2])))
    server.route(
        "/live.xml",
        lambda r: Response(200, {"Content-Type": "application/rss+xml"}, rss_feed("Live desk", list(entries))),
    )
    return server.url("/live.xml")


def new_jobs(cluster, before: dict) -> dict:
    return {jid: state for jid, state in cluster.jobs().items() if jid not in before}


def assert_ran(done, cluster):
    assert done.returncode == 0, done.stderr[-3000:] + "\n" + cluster.logs()
    assert "[inputs = articles + duplicates + rejects: ok]" in done.stdout


def test_seeds_batch_on_the_session_cluster(flink_cluster, tmp_path, reference):
    before = flink_cluster.jobs()
    output = tmp_path / "out"
    started = time.monotonic()
    done = newsbeam(
        sys.executable, "run", ["--input", str(SEEDS), "--output", str(output), *flink_args(flink_cluster.address)]
    )
    print(f"seeds batch on the cluster: {time.monotonic() - started:.1f} s")
    assert_ran(done, flink_cluster)
    assert list(new_jobs(flink_cluster, before).values()) == ["FINISHED"]
    tables = snapshot(output)
    assert len(tables["articles"]) == 4 and len(tables["quotes"]) > 10
    assert tables == reference


def bench_sample(folder, n: int) -> str:
    """n articles of the bench corpus (10% near copies) in JSON-lines files."""
    sys.path.insert(0, str(REPO / "bench"))
    from corpus import generate, write_corpus

    write_corpus(generate(n), str(folder), per_file=1000)
    return str(folder)


SAMPLE_ARTICLES = int(os.environ.get("NEWSBEAM_FLINK_SAMPLE", "10000"))


def test_a_bench_sample_on_the_session_cluster_gives_the_local_tables(flink_cluster, tmp_path):
    """The scale issue's check: a sample of the bench corpus (--no-nlp: its cost is
    dedup's shuffles, pending files and side inputs) on the cluster's two slots gives the
    tables the local runner gives on 2 workers."""
    corpus = bench_sample(tmp_path / "corpus", SAMPLE_ARTICLES)
    runs = {}
    for name, extra in (
        ("local", ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]),
        ("cluster", flink_args(flink_cluster.address)),
    ):
        started = time.monotonic()
        done = newsbeam(
            sys.executable, "run", ["--input", corpus, "--output", str(tmp_path / name), "--no-nlp", *extra]
        )
        assert_ran(done, flink_cluster)
        runs[name] = snapshot(tmp_path / name)
        print(f"{SAMPLE_ARTICLES} bench articles --no-nlp, {name}: {time.monotonic() - started:.1f} s")
    assert len(runs["local"]["articles"]) == SAMPLE_ARTICLES
    con = open_output(str(tmp_path / "local"))
    (near,) = con.execute("SELECT count(*) FROM articles WHERE duplicate_reason = 'near'").fetchone()
    assert near > SAMPLE_ARTICLES // 20  # the corpus's near copies were found, then compared below
    assert runs["cluster"] == runs["local"]


def job_server_pids(process: subprocess.Popen, seen: set) -> None:
    """Collect the pids of the Beam job server JVMs under `process` until it exits."""
    root = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            for child in root.children(recursive=True):
                if any("job-server" in part for part in child.cmdline()):
                    seen.add(child.pid)
        except psutil.Error:  # a child ended while it was looked at: look again
            pass
        time.sleep(0.2)


def test_a_chunked_run_on_the_session_cluster_uses_one_job_server_and_gives_the_local_tables(flink_cluster, tmp_path):
    """A large input runs in chunks, each a pipeline of its own, deduplicated against
    the chunks before it (NewKeys over the stored rows). On the cluster they share one
    job server: left to the SDK each pipeline started its own JVM, kept until the
    process exited (9 for the 1M run). The tables are the local runner's, chunked alike."""
    corpus = bench_sample(tmp_path / "corpus", 3000)
    chunking = ["--no-nlp", "--chunk-mb", "2.5"]
    local = newsbeam(
        sys.executable,
        "run",
        ["--input", corpus, "--output", str(tmp_path / "local"), *chunking, "--direct_num_workers=2"],
    )
    assert_ran(local, flink_cluster)
    before, seen = flink_cluster.jobs(), set()
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", "--input", corpus, "--output", str(tmp_path / "cluster")]
        + [*chunking, *flink_args(flink_cluster.address)],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    watcher = threading.Thread(target=job_server_pids, args=(process, seen), daemon=True)
    watcher.start()
    try:
        out, err = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    watcher.join()
    assert_ran(subprocess.CompletedProcess(process.args, process.returncode, out, err), flink_cluster)
    chunks = [line for line in err.splitlines() if line.startswith("chunk ")]
    assert len(chunks) >= 3 and chunks[0].startswith(f"chunk 1 of {len(chunks)} "), chunks
    assert list(new_jobs(flink_cluster, before).values()) == ["FINISHED"] * len(chunks)
    assert len(seen) == 1, f"job server JVMs started: {sorted(seen)}"
    assert snapshot(tmp_path / "cluster") == snapshot(tmp_path / "local")


class ByteTotalFn(beam.CombineFn):
    """Combines blobs, keeping them in the accumulator: a lifted combiner's accumulator
    is then as large as the blobs of a whole bundle (as NewKeys and Decisions are)."""

    def create_accumulator(self):
        return []

    def add_input(self, accumulator, blob):
        return [*accumulator, blob]

    def merge_accumulators(self, accumulators):
        return [blob for accumulator in accumulators for blob in accumulator]

    def extract_output(self, accumulator):
        return sum(len(blob) for blob in accumulator)


BLOBS = 256  # of 500 KB, in one bundle: 128 MB, more than a sorter's share of the cluster's managed memory


def combine_blobs_on(options, result_path) -> None:
    """BLOBS blobs combined into their total size, on the cluster."""
    with beam.Pipeline(options=options) as p:
        (
            p
            | beam.Create([BLOBS])
            | "Blobs" >> beam.FlatMap(lambda count: [bytes(500_000)] * count)
            | "Total" >> beam.CombineGlobally(ByteTotalFn())
            | "Write" >> beam.Map(lambda total: result_path.write_text(str(total)))
        )


def test_a_large_combine_runs_on_the_cluster_as_newsbeam_submits_it(flink_cluster, tmp_path):
    """A combine of large values, as a chunk of a million articles makes (NewKeys,
    Decisions). Lifted (the SDK's default), the combiner hands Flink one accumulator per
    bundle, which Flink's chained combiner refuses when it is larger than its sort buffer:
    the 1M run's first chunk failed so. Not lifted, the grouping's sorter refuses the
    pre-grouped records instead, unless the job enables Flink's large-record handler.
    newsbeam submits FlinkRunner jobs with both (pipeline/runners.py), and the same
    combine then completes."""
    failures = {
        "lifted": ["--experiments=pre_optimize=default"],
        "unlifted, no large-record handler": ["--experiments=pre_optimize=pack_combiners"],
    }
    for name, flags in failures.items():
        result = tmp_path / f"{name}.txt"
        with pytest.raises(Exception, match="Record too large|exceeds the maximum size of a sort buffer"):
            combine_blobs_on(PipelineOptions([*flink_args(flink_cluster.address), *flags]), result)
        assert not result.exists(), name
    options = PipelineOptions(flink_args(flink_cluster.address))
    assert without_lifted_combiners(options)
    result = tmp_path / "as-newsbeam.txt"
    with flink_job_settings(options) as folder:
        assert folder and options.view_as(FlinkJobOptions).flink_conf_dir == folder
        combine_blobs_on(options, result)
    assert result.read_text() == str(BLOBS * 500_000)


STREAM_VARIANTS = {
    # entry summaries only: no page fetching
    "no_fetch": ["--no-fetch-articles"],
    # the defaults: each entry's page fetched for the full text, then NLP
    "defaults": [],
}


@pytest.mark.parametrize("variant", list(STREAM_VARIANTS))
def test_stream_on_the_session_cluster_gives_the_batch_tables(variant, flink_cluster, tmp_path):
    flags = ["--allow-private-hosts", *STREAM_VARIANTS[variant]]
    with FeedServer() as server:
        feed = serve_stories(server, (1, 2, 3))
        batch = newsbeam(sys.executable, "run", ["--feed", feed, "--output", str(tmp_path / "batch"), *flags])
        assert batch.returncode == 0, batch.stderr[-3000:]
        before = flink_cluster.jobs()
        started = time.monotonic()
        done = newsbeam(
            sys.executable,
            "stream",
            [
                "--feed",
                feed,
                "--output",
                str(tmp_path / "stream"),
                "--poll-interval",
                "2",
                "--window",
                "4",
                "--duration",
                "20",
                *flags,
                *flink_args(flink_cluster.address),
            ],
        )
        print(f"stream ({variant}) on the cluster: {time.monotonic() - started:.1f} s")
    assert_ran(done, flink_cluster)
    assert list(new_jobs(flink_cluster, before).values()) == ["FINISHED"]
    expected, tables = snapshot(tmp_path / "batch"), snapshot(tmp_path / "stream")
    assert len(expected["articles"]) == 3 and expected["entities"] and expected["quotes"]
    assert tables == expected


def committed_titles(output) -> list:
    try:
        return [r[0] for r in open_output(str(output)).execute("SELECT title FROM articles ORDER BY title").fetchall()]
    except Exception:  # noqa: BLE001 - nothing committed yet; wait_for fails the test if it never comes
        return []


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout} s: {what}")


def test_a_stream_cancelled_on_the_cluster_and_restarted_loses_and_repeats_nothing(flink_cluster, tmp_path):
    """The cluster's way to stop a job at once: REST cancel (`flink cancel`). The window in
    progress is never committed; the restart clears what it staged and polls again, and
    every entry ends in the tables exactly once, with its entities and quotes."""
    from pipeline.maintenance import check_output

    output = tmp_path / "out"
    numbers = [1, 2]
    stream_args = [
        "--output",
        str(output),
        "--poll-interval",
        "1",
        "--window",
        "12",
        "--allow-private-hosts",
        "--no-fetch-articles",
        *flink_args(flink_cluster.address),
    ]
    with FeedServer() as server:
        feed = serve_stories(server, numbers)
        before = flink_cluster.jobs()
        first = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "stream", "--feed", feed, "--duration", "150", *stream_args],
            cwd=REPO,
            text=True,
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for(
                lambda: committed_titles(output) == sorted(STORIES[n][0] for n in (1, 2)),
                150,
                "stories 1 and 2 committed",
            )
            numbers.append(3)
            serve_stories(server, numbers)
            polls = len(server.requests_to("/live.xml"))
            wait_for(lambda: len(server.requests_to("/live.xml")) >= polls + 2, 30, "story 3 polled")
            running = [jid for jid, state in new_jobs(flink_cluster, before).items() if state == "RUNNING"]
            assert len(running) == 1, flink_cluster.jobs()
            flink_cluster.rest(f"/jobs/{running[0]}?mode=cancel", method="PATCH")
            cancelled_out, cancelled_err = first.communicate(timeout=120)
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
                first.communicate()
        assert flink_cluster.jobs()[running[0]] == "CANCELED"
        # the submitting command says so in one line and sums up the windows it committed
        cancelled_out = cancelled_out.decode() if isinstance(cancelled_out, bytes) else cancelled_out
        assert first.returncode == 0 and "stopped: the job was cancelled on the cluster" in cancelled_out, (
            cancelled_out,
            cancelled_err,
        )
        assert "[inputs = articles + duplicates + rejects: ok]" in cancelled_out
        # story 3 was polled in a window that never closed: nothing of it is visible
        assert committed_titles(output) == sorted(STORIES[n][0] for n in (1, 2))

        before = flink_cluster.jobs()
        second = newsbeam(sys.executable, "stream", ["--feed", feed, "--duration", "20", *stream_args])
    assert_ran(second, flink_cluster)
    assert list(new_jobs(flink_cluster, before).values()) == ["FINISHED"]
    assert committed_titles(output) == sorted(STORIES[n][0] for n in (1, 2, 3))
    con = open_output(str(output))
    assert con.execute("SELECT count(*) - count(DISTINCT article_id) FROM articles").fetchone() == (0,)
    assert con.execute("SELECT count(*) - count(DISTINCT (article_id, start)) FROM entities").fetchone() == (0,)
    assert con.execute("SELECT count(*) - count(DISTINCT quote_id) FROM quotes").fetchone() == (0,)
    assert con.execute("SELECT count(DISTINCT article_id) FROM entities").fetchone() == (3,)
    report = check_output(str(output))
    assert report.clean, [p.line() for p in report.problems]


def test_the_cluster_nlp_bench_runs_both_runs_and_compares_their_tables(tmp_path):
    """bench/cluster_nlp.py (`make bench-cluster`) on a few articles: its own cluster,
    a run there and one on the local runner, every process's peak, the tables compared."""
    if shutil.which("java") is None:
        pytest.skip("no `java` on PATH: the Flink cluster needs a JDK 11/17")
    sys.path.insert(0, str(REPO / "bench"))
    import cluster_nlp

    figures_path = tmp_path / "figures.json"
    assert cluster_nlp.main(["--articles", "24", "--json", str(figures_path)]) == 0
    figures = json.loads(figures_path.read_text())
    assert figures["tables_equal"] is True
    assert {"newsbeam", "job server", "JobManager", "TaskManager", "all"} <= set(figures["cluster"]["peaks"])
    assert {"newsbeam", "python worker", "all"} <= set(figures["local"]["peaks"])
    for run in ("cluster", "local"):
        assert "inputs=24 " in figures[run]["summary"] and "ok]" in figures[run]["summary"]
        assert figures[run]["peaks"]["all"] > max(v for k, v in figures[run]["peaks"].items() if k != "all")
