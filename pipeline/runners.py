"""Local runners that never reach for the network.

Beam's DirectRunner first tries Prism, downloading its binary at run time; with
no network that hangs on DNS or fails, then falls back. newsbeam names the local
engines itself so a run never depends on that download.
"""
from apache_beam.options.pipeline_options import PipelineOptions, PrismRunnerOptions
from apache_beam.runners.direct.direct_runner import SwitchingDirectRunner

# Batch: the engine DirectRunner picks for batch pipelines, named directly.
LOCAL_BATCH_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
LOCAL_STREAM_RUNNER = "pipeline.runners.LocalStreamRunner"
NO_PRISM = "/nonexistent/newsbeam-uses-no-prism"


class LocalStreamRunner(SwitchingDirectRunner):
    """DirectRunner for streams, told that Prism has no binary, so it falls back at
    once to its streaming engine without downloading anything.

    Why not name BundleBasedDirectRunner directly: in Beam 2.77 it rejects the
    expansion of PeriodicImpulse's splittable DoFn ("ProcessKeyedElements/GroupByKey
    was not replaced as expected"); the same pipeline runs through DirectRunner's
    fallback path, which this keeps.
    """

    def run_pipeline(self, pipeline, options: PipelineOptions):
        options.view_as(PrismRunnerOptions).prism_location = NO_PRISM
        return super().run_pipeline(pipeline, options)
