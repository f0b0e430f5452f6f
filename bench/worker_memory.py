"""What Beam's local workers keep in memory after moving data: Beam's runner and newsbeam's.

A plain Beam pipeline (no newsbeam transforms) moves N elements of 2 KB through two
GroupByKeys and sums their sizes; a last stage, once the data are gone, reports
from inside the process that runs it the bytes malloc has handed out and not
had back (glibc mallinfo2) and the RSS.
Run on Beam's FnApiRunner as it is, then on newsbeam's local runner (whose bundles
release their closed output streams, pipeline/runners.py), each on 2 worker processes
and in memory in one process.
`python bench/worker_memory.py --n 2000 20000` prints one line per runner, mode and size.
"""

import argparse
import ctypes
import json
import os
import sys
import tempfile

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pipeline.runners import LOCAL_BATCH_RUNNER, local_batch_runner  # noqa: E402

ELEMENT_BYTES = 2000


def malloc_in_use() -> int:
    """Bytes allocated with malloc and not yet freed, over all arenas (glibc >= 2.33)."""

    class MallInfo2(ctypes.Structure):  # defined here: a ctypes class does not pickle with the DoFn
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()
        ]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    info = libc.mallinfo2()
    return info.uordblks + info.hblkhd


def resident_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class ReportMemory(beam.DoFn):
    """At the end of each bundle, writes the memory of the process it runs in to a file
    named after that process."""

    def __init__(self, folder: str):
        self.folder = folder

    def process(self, element):
        yield element

    def finish_bundle(self):
        report = {"pid": os.getpid(), "malloc_in_use": malloc_in_use(), "rss": resident_bytes()}
        with open(os.path.join(self.folder, f"{os.getpid()}.json"), "w") as handle:
            json.dump(report, handle)


def run(n: int, runner, mode: str, folder: str) -> list[dict]:
    workers = 2 if mode == "multi_processing" else 1
    options = PipelineOptions([f"--direct_num_workers={workers}", f"--direct_running_mode={mode}"])
    with beam.Pipeline(runner=runner, options=options) as p:
        (
            p
            | beam.Create(range(n))
            | "Spread" >> beam.Reshuffle()
            | "Payload" >> beam.Map(lambda i: (i % 997, "x" * ELEMENT_BYTES + str(i)))
            | "GroupOnce" >> beam.GroupByKey()
            | "Ungroup" >> beam.FlatMap(lambda kv: [(len(v) % 13, v) for v in kv[1]])
            | "GroupTwice" >> beam.GroupByKey()
            | "Sizes" >> beam.Map(lambda kv: len(kv[1]))
            | "Total" >> beam.CombineGlobally(sum)  # the data are gone after this stage
            | "Report" >> beam.ParDo(ReportMemory(folder))
        )
    reports = []
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as handle:
            reports.append(json.load(handle))
    return reports


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--modes", nargs="+", default=["in_memory", "multi_processing"])
    args = parser.parse_args(argv)
    # Beam's runner first: newsbeam's changes this process's Beam classes for good.
    for name, make_runner in (("beam", lambda: LOCAL_BATCH_RUNNER), ("newsbeam", local_batch_runner)):
        for mode in args.modes:
            for n in args.n:
                with tempfile.TemporaryDirectory() as folder:
                    reports = run(n, make_runner(), mode, folder)
                in_use = " ".join(f"{r['malloc_in_use'] / 2**20:.0f}" for r in reports)
                rss = " ".join(f"{r['rss'] / 2**20:.0f}" for r in reports)
                print(
                    f"{name:9s} {mode:17s} n={n:<7d} data {n * ELEMENT_BYTES / 2**20:5.0f} MB  "
                    f"malloc in use (MB, per process) {in_use:8s} RSS {rss}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
