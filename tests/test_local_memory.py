"""Memory of local runs: allocator settings applied unless the user set them and inherited by
workers; workers that release the output buffers of finished stages."""

import os

import apache_beam as beam
import pyarrow as pa
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import BeamAssertException, assert_that, equal_to
from conftest import MULTI_WORKER_ARGS, beam_pipeline

from pipeline.runners import LOCAL_BATCH_RUNNER, LOCAL_MEMORY_SETTINGS, local_batch_runner, use_local_memory_settings


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


def held_after_a_shuffle(runner, matcher) -> None:
    """Run 2 MB through a GroupByKey on 2 worker processes; the next stage's bundles report
    the bytes this worker's output operations still hold when they start (before writing
    anything: what finished stages kept), checked by matcher."""

    class HeldOutputBytes(beam.DoFn):  # defined here: pickled by value for the worker processes
        def start_bundle(self):
            import gc

            from apache_beam.runners.worker.bundle_processor import DataOutputOperation

            self.held = sum(
                op.output_stream.size()
                for op in gc.get_objects()
                if isinstance(op, DataOutputOperation) and getattr(op, "output_stream", None) is not None
            )

        def process(self, element):
            yield self.held

    with test_pipeline.TestPipeline(runner=runner, options=PipelineOptions(MULTI_WORKER_ARGS)) as p:
        held = (
            p
            | beam.Create(range(1000))
            | beam.Reshuffle()
            | beam.Map(lambda i: (i % 10, "x" * 2000))
            | beam.GroupByKey()
            | beam.ParDo(HeldOutputBytes())
        )
        assert_that(held, matcher)


def test_workers_of_the_local_runner_release_the_output_of_finished_stages():
    def some_stage_kept_its_output(held):
        if max(held) < 100_000:
            raise BeamAssertException(f"expected a finished stage's output buffer, held {held}")

    def nothing_kept(held):
        if set(held) != {0}:
            raise BeamAssertException(f"finished stages still hold output: {held}")

    held_after_a_shuffle(LOCAL_BATCH_RUNNER, some_stage_kept_its_output)  # Beam's own FnApiRunner
    held_after_a_shuffle(local_batch_runner(), nothing_kept)


def heap_given_back_after_a_bundle(runner, matcher) -> None:
    """One worker process frees 80 MB of small heap blocks in a bundle (a block kept above
    them, so its heap cannot simply shrink from the top); the next stage's bundle reports
    the bytes of resident memory the process gave back in between, checked by matcher."""

    class FragmentTheHeap(beam.DoFn):  # defined here: pickled by value for the worker process
        def process(self, element):
            import psutil

            blocks = [bytearray(64 * 1024) for _ in range(1280)]  # below glibc's mmap threshold: the heap
            self.kept = bytearray(64 * 1024)
            del blocks
            yield "only", psutil.Process().memory_info().rss

    def given_back(keyed):
        import psutil

        _, (resident_after_the_free,) = keyed
        return resident_after_the_free - psutil.Process().memory_info().rss

    options = PipelineOptions(["--direct_num_workers=1", "--direct_running_mode=multi_processing"])
    with test_pipeline.TestPipeline(runner=runner, options=options) as p:
        given = p | beam.Create([0]) | beam.ParDo(FragmentTheHeap()) | beam.GroupByKey() | beam.Map(given_back)
        assert_that(given, matcher)


def test_workers_of_the_local_runner_give_back_the_free_heap_after_each_bundle():
    def kept(given):  # Beam's own FnApiRunner: the freed blocks stay resident
        if max(given) > 20 * 2**20:
            raise BeamAssertException(f"expected the free heap kept, {given} bytes given back")

    def given_back(given):
        if min(given) < 60 * 2**20:
            raise BeamAssertException(f"expected about 80 MB given back, {given} bytes")

    heap_given_back_after_a_bundle(LOCAL_BATCH_RUNNER, kept)
    heap_given_back_after_a_bundle(local_batch_runner(), given_back)
