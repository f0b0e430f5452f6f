"""Imported by each Beam worker process at start-up (`--beam_plugins=pipeline.worker_plugin`,
Beam's hook for bootstrapping workers; `newsbeam run` adds it on local runners).

Importing it is its purpose: workers then release each finished stage's output buffer
(see pipeline.runners.release_closed_output_streams).
"""
from pipeline.runners import release_closed_output_streams

release_closed_output_streams()
