"""NewsbeamOptions keeps one view per options class (pipeline/options.py), with Beam's semantics."""

import copy
import pickle

from apache_beam.options.pipeline_options import DebugOptions, StandardOptions, TypeOptions

from pipeline.options import NewsbeamOptions


def test_a_view_is_built_once_per_class():
    options = NewsbeamOptions(["--output", "out"])
    assert options.view_as(TypeOptions) is options.view_as(TypeOptions)
    assert options.view_as(StandardOptions) is not options.view_as(TypeOptions)


def test_views_share_the_options_values_as_new_views_do():
    options = NewsbeamOptions(["--output", "out", "--runner", "DirectRunner"])
    standard = options.view_as(StandardOptions)
    debug = options.view_as(DebugOptions)
    standard.runner = "FlinkRunner"
    debug.add_experiment("pre_optimize=all")
    assert options.view_as(StandardOptions).runner == "FlinkRunner"
    assert "pre_optimize=all" in options.view_as(DebugOptions).experiments
    assert options.get_all_options()["runner"] == "FlinkRunner"
    assert options.view_as(NewsbeamOptions).output == "out"


def test_a_copy_or_pickled_options_keep_their_values_and_get_views_of_their_own():
    options = NewsbeamOptions(["--output", "out", "--runner", "DirectRunner"])
    options.view_as(StandardOptions)
    for other in (copy.deepcopy(options), pickle.loads(pickle.dumps(options))):
        assert other.view_as(StandardOptions).runner == "DirectRunner"
        other.view_as(StandardOptions).runner = "FlinkRunner"
        assert other.view_as(StandardOptions).runner == "FlinkRunner"
        assert options.view_as(StandardOptions).runner == "DirectRunner"
