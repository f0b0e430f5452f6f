"""Shared fixtures: the real spaCy model, the seeds, ../shared, and Beam test pipelines."""
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


def beam_pipeline(*args: str) -> TestPipeline:
    """A TestPipeline on the in-process batch runner (extra Beam flags in args)."""
    return TestPipeline(runner=FN_API_RUNNER, options=PipelineOptions(list(args)))


@pytest.fixture(scope="session")
def nlp():
    from transforms.nlp import load_spacy_model

    return load_spacy_model()


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present: ../shared is provided beside the repo on dev and CI machines only")
    return path
