"""Local runners that never reach for the network.

Beam's DirectRunner first tries Prism, downloading its binary at run time; with
no network that fails, then falls back. newsbeam names its local engines itself:
batch runs use the engine DirectRunner picks for batch (FnApiRunner), streams
use Prism from a binary built locally by `make prism` (Go module proxy), never
downloaded at run time.
"""

import os

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


def use_local_memory_settings(environ=os.environ) -> dict:
    """Apply LOCAL_MEMORY_SETTINGS where the user has not set them: in the environment
    (worker processes started from here inherit it) and in this process. Returns
    the settings in effect."""
    for name, value in LOCAL_MEMORY_SETTINGS.items():
        environ.setdefault(name, value)
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, int(environ["MALLOC_ARENA_MAX"]))
    except (OSError, AttributeError, ValueError):  # not glibc: nothing to tune
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


def local_batch_runner():
    """The local batch engine (FnApiRunner), its worker processes importing WORKER_PLUGIN
    at start. FnApiRunner hands its workers none of the pipeline's options, so a
    --beam_plugins flag would not reach them; they read the options of its provision info."""
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.job.utils import dict_to_struct
    from apache_beam.runners.portability.fn_api_runner.fn_runner import ExtendedProvisionInfo, FnApiRunner

    release_closed_output_streams()  # bundles run in this process too (single-process runs)
    worker_options = dict_to_struct({"beam_plugins": [WORKER_PLUGIN]})
    return FnApiRunner(
        provision_info=ExtendedProvisionInfo(
            beam_provision_api_pb2.ProvisionInfo(
                retrieval_token="unused-retrieval-token", pipeline_options=worker_options
            )
        )
    )
