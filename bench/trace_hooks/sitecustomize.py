"""Loss-tracing hooks for bench/trace_losses.py, loaded by every Python process of a
run (the coordinator and each SDK worker) through PYTHONPATH, and active only when
NEWSBEAM_TRACE_DIR is set. Each process appends to its own NEWSBEAM_TRACE_DIR/<pid>.log:

    <time> pack <stored> <process|finish> <shard> <entries> <crc32>   a packed band block
    <time> pair <shard> <entries> <crc32>                             a block candidate pairing got
    <time> send <instruction> <transform> <bytes> <is_last>           a Data element this process sent
    <time> recv <instruction> <transform> <bytes> <is_last>           a Data element this process got

The hooks wrap the functions once their module is imported, and change nothing else,
unless NEWSBEAM_TRACE_DROP_STORED is set: then the stored articles' blocks packed at the
end of a bundle are logged and dropped, a loss of known shape for the tool's own test.
"""

import os

TRACE_DIR = os.environ.get("NEWSBEAM_TRACE_DIR")


def _install():
    import importlib.abc
    import importlib.machinery
    import sys
    import time
    import zlib

    log = open(os.path.join(TRACE_DIR, f"{os.getpid()}.log"), "a", buffering=1)  # noqa: SIM115  # lives as long as the process

    def write(*fields):
        log.write(" ".join([f"{time.time():.3f}", *map(str, fields)]) + "\n")

    def hook_near_duplicates(module):
        BandBlock = module.BandBlock  # noqa: N806  # the module's own class, as the other hook imports it

        flush = module.PackBandEntriesFn.flush

        def traced_flush(self, where="process"):
            blocks = flush(self)
            for shard, data in blocks:
                write("pack", self.existing, where, shard, BandBlock.entries(data), zlib.crc32(data))
            return blocks

        def traced_finish_bundle(self):
            from apache_beam.transforms.window import GlobalWindows

            blocks = traced_flush(self, "finish")
            if self.existing and os.environ.get("NEWSBEAM_TRACE_DROP_STORED"):
                return
            for block in blocks:
                yield GlobalWindows.windowed_value(block)

        module.PackBandEntriesFn.flush = traced_flush
        module.PackBandEntriesFn.finish_bundle = traced_finish_bundle

    def hook_pairs(module):
        from transforms.dedup.near_duplicates import BandBlock

        process = module.ShardCandidatesFn.process

        def traced_process(self, shard_blocks):
            for data in shard_blocks[1]:
                write("pair", shard_blocks[0], BandBlock.entries(data), zlib.crc32(data))
            yield from process(self, shard_blocks)

        module.ShardCandidatesFn.process = traced_process

    def hook_data_plane(module):
        channel = module._GrpcDataChannel
        write_outputs, read_inputs = channel._write_outputs, channel._read_inputs

        def traced_write_outputs(self):
            for elements in write_outputs(self):
                for data in elements.data:
                    write("send", data.instruction_id, data.transform_id, len(data.data), data.is_last)
                yield elements

        def traced_read_inputs(self, elements_iterator):
            def traced():
                for elements in elements_iterator:
                    for data in elements.data:
                        write("recv", data.instruction_id, data.transform_id, len(data.data), data.is_last)
                    yield elements

            return read_inputs(self, traced())

        channel._write_outputs, channel._read_inputs = traced_write_outputs, traced_read_inputs

    hooks = {
        "transforms.dedup.near_duplicates": hook_near_duplicates,
        "transforms.dedup.pairs": hook_pairs,
        "apache_beam.runners.worker.data_plane": hook_data_plane,
    }

    class AfterImport(importlib.abc.MetaPathFinder):
        """Runs a module's hook right after the module itself has run."""

        def find_spec(self, name, path, target=None):
            hook = hooks.pop(name, None)
            if hook is None:
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            exec_module = spec.loader.exec_module

            def exec_then_hook(module):
                exec_module(module)
                hook(module)

            spec.loader.exec_module = exec_then_hook
            return spec

    sys.meta_path.insert(0, AfterImport())


if TRACE_DIR:
    _install()
