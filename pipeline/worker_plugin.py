"""Imported by each Beam worker process at start-up (Beam's `beam_plugins` option, its hook
for bootstrapping workers); newsbeam's local batch runner names it in its workers' options.

Importing it is its purpose: the worker then releases each finished stage's output buffer
and, after each bundle, the free pages of its heap (see pipeline.runners).
"""

from pipeline.runners import release_closed_output_streams, release_free_heap_after_each_bundle

release_closed_output_streams()
release_free_heap_after_each_bundle(in_worker=True)
