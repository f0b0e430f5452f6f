"""Memory settings of local runs: applied unless the user set them, inherited by workers."""
import os

import apache_beam as beam
import pyarrow as pa
from apache_beam.testing.util import assert_that, equal_to

from conftest import MULTI_WORKER_ARGS, beam_pipeline
from pipeline.runners import LOCAL_MEMORY_SETTINGS, use_local_memory_settings


def test_settings_fill_in_what_the_user_left_unset():
    environ = {"ARROW_DEFAULT_MEMORY_POOL": "jemalloc"}
    pool = pa.default_memory_pool()
    assert use_local_memory_settings(environ) == {"MALLOC_ARENA_MAX": "2", "ARROW_DEFAULT_MEMORY_POOL": "jemalloc"}
    assert environ == {"MALLOC_ARENA_MAX": "2", "ARROW_DEFAULT_MEMORY_POOL": "jemalloc"}
    assert pa.default_memory_pool().backend_name == pool.backend_name  # the user's pool is kept


def test_worker_processes_inherit_the_settings(monkeypatch):
    def worker_setting(name):  # defined here: pickled by value for the worker processes
        import pyarrow
        return name, os.environ.get(name), pyarrow.default_memory_pool().backend_name

    for name in LOCAL_MEMORY_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    previous_pool = pa.default_memory_pool()
    try:
        use_local_memory_settings()
        assert pa.default_memory_pool().backend_name == "system"
        with beam_pipeline(*MULTI_WORKER_ARGS) as p:
            seen = p | beam.Create(sorted(LOCAL_MEMORY_SETTINGS)) | beam.Map(worker_setting)
            assert_that(seen, equal_to([(name, value, "system") for name, value in LOCAL_MEMORY_SETTINGS.items()]))
    finally:
        pa.set_memory_pool(previous_pool)
