"""Options newsbeam sets for the runner it is given (pipeline/runners.py)."""

import os

import pytest
from apache_beam.options.pipeline_options import DebugOptions, PipelineOptions

from pipeline.options import FlinkJobOptions
from pipeline.runners import LOCAL_BATCH_RUNNER, UNLIFTED_COMBINERS, flink_job_settings, without_lifted_combiners


@pytest.mark.parametrize(
    "args, unlifted",
    [
        (["--runner=FlinkRunner", "--flink_master=127.0.0.1:8081"], True),
        (["--runner=SparkRunner"], True),
        (["--runner=PortableRunner", "--job_endpoint=localhost:8099"], True),
        (["--runner=apache_beam.runners.portability.flink_runner.FlinkRunner"], True),
        (["--runner=PortableRunner", "--job_endpoint=embed"], False),  # the in-process engine lifts well
        ([f"--runner={LOCAL_BATCH_RUNNER}"], False),
        (["--runner=DataflowRunner"], False),  # Dataflow lifts combiners itself
        (["--runner=FlinkRunner", "--experiments=pre_optimize=all"], False),  # the user's choice stays
    ],
)
def test_combiners_are_not_lifted_for_a_job_servers_runner(args, unlifted):
    """A job server's runner gets one accumulator per partition from a lifted combiner, too
    large a record for Flink's combiner at a chunk's size: newsbeam turns lifting off there."""
    options = PipelineOptions(args)
    assert without_lifted_combiners(options) is unlifted
    experiments = options.view_as(DebugOptions).experiments or []
    assert (UNLIFTED_COMBINERS in experiments) is unlifted
    assert without_lifted_combiners(options) is False  # applied once: the next call finds it chosen


def test_flink_runs_get_the_large_record_handler_in_a_conf_dir_of_their_own(tmp_path):
    """--runner FlinkRunner: the job server reads FLINK_JOB_SETTINGS from a folder that
    exists while the run does; a folder the user gave is kept, other runners get none."""
    options = PipelineOptions(["--runner=FlinkRunner", "--flink_master=127.0.0.1:8081"])
    with flink_job_settings(options) as folder:
        assert options.view_as(FlinkJobOptions).flink_conf_dir == folder
        with open(os.path.join(folder, "config.yaml"), encoding="utf-8") as handle:
            assert handle.read() == "taskmanager.runtime.large-record-handler: true\n"
        assert options.get_all_options()["flink_conf_dir"] == folder  # what the job server is sent
    assert not os.path.exists(folder) and options.view_as(FlinkJobOptions).flink_conf_dir is None
    for args in (
        ["--runner=FlinkRunner", f"--flink_conf_dir={tmp_path}"],  # the user's own settings
        ["--runner=PortableRunner", "--job_endpoint=localhost:8099"],  # a job server elsewhere
        [f"--runner={LOCAL_BATCH_RUNNER}"],
    ):
        options = PipelineOptions(args)
        before = options.view_as(FlinkJobOptions).flink_conf_dir
        with flink_job_settings(options) as folder:
            assert folder is None and options.view_as(FlinkJobOptions).flink_conf_dir == before


def test_one_job_server_is_started_only_for_flink_without_an_endpoint():
    """Other runners, and a job server the user runs (--job_endpoint), are left as they
    are; FlinkRunner's shared job server is tested on the session cluster
    (test_flink_cluster.py: a chunked run uses one job server)."""
    from apache_beam.options.pipeline_options import PortableOptions

    from pipeline.runners import one_job_server

    for args in (
        ["--runner=FlinkRunner", "--job_endpoint=localhost:8099"],
        ["--runner=PortableRunner", "--job_endpoint=embed"],
        [f"--runner={LOCAL_BATCH_RUNNER}"],
    ):
        options = PipelineOptions(args)
        before = options.view_as(PortableOptions).job_endpoint
        with one_job_server(options) as endpoint:
            assert endpoint is None and options.view_as(PortableOptions).job_endpoint == before
