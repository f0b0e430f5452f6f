"""Imported by each Beam worker process at start-up (Beam's `beam_plugins` option, its hook
for bootstrapping workers); newsbeam's local batch runner names it in its workers' options.

Importing it is its purpose: the worker then releases each finished stage's output buffer
(see pipeline.runners.release_closed_output_streams).
"""

from pipeline.runners import release_closed_output_streams

release_closed_output_streams()
