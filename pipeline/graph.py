"""The batch pipeline graph: Read/Fetch -> Parse -> Deduplicate -> NLP -> Write.

Only wiring lives here; each stage is a composite PTransform in transforms/.
"""
import apache_beam as beam

from pipeline.options import fetch_config
from schemas.tables import FEED_STATE, REJECTS
from transforms.articles import finalize_article
from transforms.dedup import Deduplicate
from transforms.feed_lists import feed_sources
from transforms.fetch import FetchArticlePages, FetchFeedsFromState, finalize_feed_state
from transforms.metrics import count
from transforms.outputs import AnalyseAndWrite
from transforms.parse import Parse
from transforms.read import ReadInputs
from transforms.rejects import FinalizeRejects
from transforms.stored import stored_article_ids, stored_reject_keys, stored_signatures
from transforms.write import WriteTable


def build_pipeline(p: beam.Pipeline, opts, run_id: str, started_at) -> None:
    """Add newsbeam's stages to `p` for the inputs and output in `opts` (NewsbeamOptions)."""
    config = fetch_config(opts)
    feed_urls, feed_files, list_rejects = feed_sources(opts.feed, opts.feeds_file, config)

    raw, read_rejects = p | "Read" >> ReadInputs(opts.input, feed_files, started_at)
    input_rejects = [read_rejects, p | "FeedListRejects" >> beam.Create(list_rejects)]
    if feed_urls:
        fetched = p | "FetchFeeds" >> FetchFeedsFromState(feed_urls, opts.output, config)
        raw = (raw, fetched["raw"]) | "AllRaw" >> beam.Flatten()
        input_rejects.append(fetched["rejects"])
        (fetched["feed_state"] | "FeedStateRows" >> beam.Map(finalize_feed_state, run_id)
         | "CountFeeds" >> count("feeds", by="outcome")
         | "WriteFeedState" >> WriteTable(FEED_STATE, opts.output, run_id))

    parsed, parse_rejects = raw | "Parse" >> Parse()
    input_rejects = (*input_rejects, parse_rejects) | "InputRejects" >> beam.Flatten()
    (parsed, input_rejects) | "AllInputs" >> beam.Flatten() | "CountInputs" >> count("inputs")
    enrichment_rejects = []
    if opts.fetch_articles is not False and (feed_urls or opts.fetch_articles):
        pages = parsed | "FetchPages" >> FetchArticlePages(config, only_urls=not opts.fetch_articles)
        parsed = pages["articles"]
        enrichment_rejects.append(pages["rejects"] | "CountPageFailures" >> count("page_failures"))

    articles = parsed | "Finalize" >> beam.Map(finalize_article, run_id, started_at)
    winners, duplicates, _skipped = articles | "Deduplicate" >> Deduplicate(
        stored_article_ids(p, opts.output), stored_signatures(p, opts.output), opts.near_dup_threshold)
    enrichment_rejects.append((winners, duplicates) | "AnalyseAndWrite" >> AnalyseAndWrite(
        opts.output, run_id, not opts.no_nlp, opts.spacy_model, opts.nlp_batch_size))

    ((input_rejects | "CountRejects" >> count("rejects", by="stage"), *enrichment_rejects)
     | "AllRejects" >> beam.Flatten()
     | "FinalizeRejects" >> FinalizeRejects(stored_reject_keys(p, opts.output), run_id, started_at)
     | "WriteRejects" >> WriteTable(REJECTS, opts.output, run_id))

