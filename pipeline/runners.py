"""Local runners that never reach for the network.

Beam's DirectRunner first tries Prism, downloading its binary at run time; with
no network that fails, then falls back. newsbeam names its local engines itself:
batch runs use the engine DirectRunner picks for batch (FnApiRunner), streams
use Prism from a binary built locally by `make prism` (Go module proxy), never
downloaded at run time.
"""

import copy
import os
import tempfile
from contextlib import contextmanager

LOCAL_BATCH_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
LOCAL_STREAM_RUNNER = "PrismRunner"
PRISM_ENV = "NEWSBEAM_PRISM"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILT_PRISM = os.path.join(REPO, ".cache", "bin", "prism")


def local_prism_binary() -> str | None:
    """$NEWSBEAM_PRISM, else the binary `make prism` builds; None when neither exists."""
    for candidate in (os.environ.get(PRISM_ENV), BUILT_PRISM):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


# Local runs keep memory flat: glibc gives each thread its own malloc arena (up to 8
# per core) and Arrow's default pool keeps freed pages for itself, so Beam's gRPC
# threads leave freed memory scattered where it is never returned. Measured on a
# 2,000-article --no-nlp run on 2 workers: peak RSS 821 -> 686 MB, same wall time.
LOCAL_MEMORY_SETTINGS = {"MALLOC_ARENA_MAX": "2", "ARROW_DEFAULT_MEMORY_POOL": "system"}
M_ARENA_MAX = -8  # mallopt parameter, glibc malloc.h


def glibc_function(name: str):
    """The C library's function `name`, or None where the C library is not glibc."""
    import ctypes

    try:
        return getattr(ctypes.CDLL("libc.so.6"), name)
    except (OSError, AttributeError):
        return None


def use_local_memory_settings(environ=os.environ) -> dict:
    """Apply LOCAL_MEMORY_SETTINGS where the user has not set them: in the environment
    (worker processes started from here inherit it) and in this process. Returns
    the settings in effect."""
    for name, value in LOCAL_MEMORY_SETTINGS.items():
        environ.setdefault(name, value)
    mallopt = glibc_function("mallopt")
    try:
        if mallopt is not None:  # not glibc: nothing to tune
            mallopt(M_ARENA_MAX, int(environ["MALLOC_ARENA_MAX"]))
    except ValueError:  # the user's own value is not a number: this process keeps glibc's default
        pass
    if environ["ARROW_DEFAULT_MEMORY_POOL"] == "system":
        import pyarrow

        pyarrow.set_memory_pool(pyarrow.system_memory_pool())
    return {name: environ[name] for name in LOCAL_MEMORY_SETTINGS}


# Beam's Python SDK harness keeps each finished stage's output buffer: a DataOutputOperation
# holds its closed output stream (the stage's last unflushed output, up to 10 MB) until its
# cached bundle processor runs again or sits idle for 60 s. A batch run executes each stage
# once per worker, so every finished stage kept one. bench/worker_memory.py, Beam 2.77: after
# 38 MB went through two GroupByKeys, 60 MB of malloc stayed in use per worker; 30 with this.
WORKER_PLUGIN = "pipeline.worker_plugin"  # imported by each worker at start (--beam_plugins)


def release_closed_output_streams() -> None:
    """Make DataOutputOperation drop its output stream once the bundle has closed it.
    The next bundle sets a new one before writing. Applying it again changes nothing."""
    from apache_beam.runners.worker.bundle_processor import DataOutputOperation

    finish = DataOutputOperation.finish
    if getattr(finish, "releases_output_stream", False):
        return

    def finish_and_release(self) -> None:
        finish(self)
        self.output_stream = None

    finish_and_release.releases_output_stream = True  # type: ignore[attr-defined]  # marks the patch as applied
    DataOutputOperation.finish = finish_and_release  # type: ignore[method-assign]  # the patch is the point


# glibc returns freed memory to the system only from the top of its heap, and after the
# first large block is freed it serves blocks of up to 32 MB from the heap too (its mmap
# threshold rises), so each stage's buffers leave the process at its high-water mark.
# malloc_trim(0) gives back the free pages anywhere in the heap. After each bundle, in
# the coordinator and in every worker, it lowered the peak of 102,000 articles in 2 chunks
# from 1.27-1.38 to 1.15-1.18 GB, and of a million from 2.07 to 1.64 GB; the trims take
# 0.5 % of a run; alternated runs were 2-3 % slower at the medians, within the spread of
# runs of the same code (docs/performance.md).
def release_free_heap_after_each_bundle(in_worker: bool) -> None:
    """Patch this process's bundles to give the heap's free pages back (malloc_trim) after
    each: the SDK worker's in a worker process, else the local runner's (the coordinator,
    whose bundles include those of workers in its own process). Applying it again changes
    nothing; without glibc, nothing is patched."""
    trim = glibc_function("malloc_trim")
    if trim is None:
        return
    from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner
    from apache_beam.runners.worker.sdk_worker import SdkWorker

    owner, name = (SdkWorker, "process_bundle") if in_worker else (FnApiRunner, "_execute_bundle")
    run_bundle = getattr(owner, name)
    if getattr(run_bundle, "releases_free_heap", False):
        return

    def run_and_release(self, *args, **kwargs):
        try:
            return run_bundle(self, *args, **kwargs)
        finally:
            trim(0)

    run_and_release.releases_free_heap = True  # type: ignore[attr-defined]  # marks the patch as applied
    setattr(owner, name, run_and_release)


# Beam's local runner sends each bundle its input through an output stream of its data
# plane that a background thread also flushes every second (worker_handlers.DATA_BUFFER_
# TIME_LIMIT_MS = 1000; Beam's SDK workers default to 0). That flush takes the buffer,
# queues it and then clears it, with nothing stopping the runner's thread from writing
# the bundle's next input piece in between: the piece is cleared unsent, silently. It
# hits a bundle whose input takes the runner more than a second to write, so it grew with
# the store: the band blocks lost before pairing in the 1M-article runs were such pieces
# of the pairing stage's input (tests/test_runner_data_plane.py reproduces the loss on
# Beam 2.77's own data plane). Without it the runner sends a bundle's input whole when the
# stream closes, as it did already for any input written within a second, and in-process
# gRPC workers (multi_threading) flush their output by size only, as worker processes do.
def send_worker_inputs_without_timed_flush() -> None:
    """Turn off the local runner's timed flush of the data it sends its workers (above).
    Applies to runners started after it, in this process."""
    from apache_beam.runners.portability.fn_api_runner import worker_handlers

    worker_handlers.DATA_BUFFER_TIME_LIMIT_MS = 0


def local_batch_runner():
    """The local batch engine (FnApiRunner), its worker processes importing WORKER_PLUGIN
    at start. FnApiRunner hands its workers none of the pipeline's options, so a
    --beam_plugins flag would not reach them; they read the options of its provision info."""
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.job.utils import dict_to_struct
    from apache_beam.runners.portability.fn_api_runner.fn_runner import ExtendedProvisionInfo, FnApiRunner

    release_closed_output_streams()  # bundles run in this process too (single-process runs)
    release_free_heap_after_each_bundle(in_worker=False)
    send_worker_inputs_without_timed_flush()
    worker_options = dict_to_struct({"beam_plugins": [WORKER_PLUGIN]})
    return FnApiRunner(
        provision_info=ExtendedProvisionInfo(
            beam_provision_api_pb2.ProvisionInfo(
                retrieval_token="unused-retrieval-token", pipeline_options=worker_options
            )
        )
    )


# A job server's runner (Flink, Spark) runs a batch stage over a whole partition as one
# bundle, so a combiner lifted by the SDK sends one accumulator per partition into the
# runner's shuffle: for a chunk of 113,000 articles NewKeys and Decisions are megabytes
# in one record, and Flink's chained combiner, which must sort it in its share of managed
# memory (2.3 MB a sorter in newsbeam's jobs on the test cluster), fails ("Cannot write
# record to fresh sort buffer. Record too large"), as the 1M run's first chunk did.
# Not lifted, a combine's inputs are shuffled as they are and combined after the
# grouping; `pre_optimize` is the SDK's own switch (PortableRunner._optimize_pipeline):
# its default phases but the lifting. The grouping's sorter then meets records as large
# as the pre-grouping combiner's buffer, which Flink's large-record handler (off by
# default) spills with their keys: FLINK_JOB_SETTINGS, given to the job server that
# --runner FlinkRunner starts through Java's FlinkPipelineOptions.flinkConfDir.
JOB_SERVER_RUNNERS = ("FlinkRunner", "SparkRunner", "PortableRunner")
UNLIFTED_COMBINERS = "pre_optimize=pack_combiners"
FLINK_JOB_SETTINGS = {"taskmanager.runtime.large-record-handler": "true"}


def runner_name(options) -> str:
    """The runner's class name (--runner may be a dotted path)."""
    from apache_beam.options.pipeline_options import StandardOptions

    return (options.view_as(StandardOptions).runner or "").rsplit(".", 1)[-1]


def uses_job_server(options) -> bool:
    """A batch runner behind a Beam job server (not PortableRunner's in-process one)."""
    from apache_beam.options.pipeline_options import PortableOptions

    name = runner_name(options)
    return name in JOB_SERVER_RUNNERS and not (
        name == "PortableRunner" and options.view_as(PortableOptions).job_endpoint == "embed"
    )


def without_lifted_combiners(options) -> bool:
    """Turn off combiner lifting for a job server's runner, unless the user chose the
    pre_optimize phases; return whether it is off."""
    from apache_beam.options.pipeline_options import DebugOptions

    debug = options.view_as(DebugOptions)
    if not uses_job_server(options) or debug.lookup_experiment("pre_optimize") is not None:
        return False
    debug.add_experiment(UNLIFTED_COMBINERS)
    return True


def write_flink_settings(folder: str, settings: dict = FLINK_JOB_SETTINGS) -> str:
    """A Flink config.yaml of `settings` in folder; returns the folder."""
    with open(os.path.join(folder, "config.yaml"), "w", encoding="utf-8") as handle:
        handle.writelines(f"{name}: {value}\n" for name, value in settings.items())
    return folder


@contextmanager
def flink_job_settings(options):
    """For --runner FlinkRunner without the user's --flink_conf_dir: FLINK_JOB_SETTINGS in
    a temporary conf dir, given as --flink_conf_dir while the block runs (the job server
    starts on this machine, so it can read it). Yields the folder, or None when the
    runner is another or the user chose the folder (README: Runners and clusters)."""
    from pipeline.options import FlinkJobOptions

    flink = options.view_as(FlinkJobOptions)
    if runner_name(options) != "FlinkRunner" or flink.flink_conf_dir:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="newsbeam-flink-conf-") as folder:
        flink.flink_conf_dir = write_flink_settings(folder)
        try:
            yield folder
        finally:
            flink.flink_conf_dir = None


@contextmanager
def one_job_server(options):
    """For --runner FlinkRunner without --job_endpoint: start the job server the SDK
    would start, once, and give every pipeline of the run (each chunk of a large input
    is one) its endpoint. Left to the SDK, each pipeline starts a job server JVM of its
    own that is stopped only when the process exits (StopOnExitJobServer), so a 9-chunk
    run would end with 9 of them, about 0.35 GB each. Yields the endpoint, or None."""
    from apache_beam.options.pipeline_options import JobServerOptions, PortableOptions
    from apache_beam.runners.portability.flink_runner import FlinkRunner
    from apache_beam.utils.subprocess_server import pick_port

    portable = options.view_as(PortableOptions)
    if runner_name(options) != "FlinkRunner" or portable.job_endpoint:
        yield None
        return
    server_options = copy.deepcopy(options)
    job_port = server_options.view_as(JobServerOptions).job_port or pick_port(None)[0]
    server_options.view_as(JobServerOptions).job_port = job_port  # start() returns a stub, not where it is
    server = FlinkRunner().default_job_server(server_options)
    server.start()
    portable.job_endpoint = f"localhost:{job_port}"
    try:
        yield portable.job_endpoint
    finally:
        portable.job_endpoint = None
        server.stop()
