"""The batch pipeline graph: Read -> Parse -> Deduplicate -> NLP -> Write.

Only wiring lives here; each stage is a composite PTransform in transforms/.
"""
import apache_beam as beam

from schemas.tables import ARTICLES, ENTITIES, QUOTES, REJECTS
from transforms.articles import finalize_article
from transforms.dedup import Deduplicate
from transforms.metrics import count
from transforms.nlp import ExtractEntitiesAndQuotes
from transforms.parse import Parse
from transforms.read import ReadInputs
from transforms.rejects import FinalizeRejects
from transforms.stored import stored_article_keys, stored_reject_keys
from transforms.write import WriteTable


def build_pipeline(p: beam.Pipeline, opts, run_id: str, started_at) -> None:
    """Add newsbeam's stages to `p` for the inputs and output in `opts` (NewsbeamOptions)."""
    raw, read_rejects = p | "Read" >> ReadInputs(opts.input, opts.feed, started_at)
    parsed, parse_rejects = raw | "Parse" >> Parse()
    input_rejects = (read_rejects, parse_rejects) | "InputRejects" >> beam.Flatten()
    (parsed, input_rejects) | "AllInputs" >> beam.Flatten() | "CountInputs" >> count("inputs")
    input_rejects = input_rejects | "CountRejects" >> count("rejects", by="stage")

    articles = parsed | "Finalize" >> beam.Map(finalize_article, run_id, started_at)
    winners, duplicates, _skipped = articles | "Deduplicate" >> Deduplicate(
        stored_article_keys(p, opts.output))
    ((winners, duplicates) | "ArticleRows" >> beam.Flatten()
     | "WriteArticles" >> WriteTable(ARTICLES, opts.output, run_id))

    rejects = [input_rejects]
    if not opts.no_nlp:
        entities, quotes, nlp_rejects = winners | "NLP" >> ExtractEntitiesAndQuotes(
            opts.spacy_model, opts.nlp_batch_size)
        entities | "WriteEntities" >> WriteTable(ENTITIES, opts.output, run_id)
        quotes | "WriteQuotes" >> WriteTable(QUOTES, opts.output, run_id)
        rejects.append(nlp_rejects | "CountNlpFailures" >> count("nlp_failures"))

    (tuple(rejects) | "AllRejects" >> beam.Flatten()
     | "FinalizeRejects" >> FinalizeRejects(stored_reject_keys(p, opts.output), run_id, started_at)
     | "WriteRejects" >> WriteTable(REJECTS, opts.output, run_id))
