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
