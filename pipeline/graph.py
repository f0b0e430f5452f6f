"""The batch pipeline graph, in two passes over the input files:

1. Read -> Parse -> Finalize -> key rows (no text) -> Deduplicate. Every shuffle
   carries slim key rows or packed band keys; the signatures wait in pending files
   (transforms/dedup/pending.py). The result is a decision for each input.
2. Read again -> Parse -> Finalize -> ApplyDecisions (a side input) -> NLP ->
   write, committed in checkpoints. Articles and their texts stream through one
   fused stage and are never shuffled, so memory does not grow with the input.

Feeds and pages fetched over HTTP are not fetched twice (the server may answer
differently): those articles are kept from pass 1 instead.

Every table is written under a staging folder and becomes visible only through a
commit (transforms/sinks/commit.py): the articles analysed in pass 2, with their
entities, quotes and signatures, in checkpoints (transforms/sinks/checkpoints.py); the
rest (rejects, feed state, and everything with --no-nlp) when pipeline/run.py
commits the run after the pipeline has finished.

Only wiring lives here; each stage is a composite PTransform in transforms/.
"""

import apache_beam as beam

from pipeline.options import fetch_config
from schemas.tables import ARTICLES, FEED_STATE, REJECTS, SIGNATURES, SITEMAP_PAGES
from transforms.articles import finalize_article
from transforms.dedup.decide import ApplyDecisions, ChangedBetweenReads, CompactDecisions, CountDecidedFn, Deduplicate
from transforms.dedup.near_duplicates import article_key
from transforms.dedup.pending import PENDING_FOLDER, winner_signatures
from transforms.dedup.stored import (
    NewKeysOf,
    StoredSignaturesWithIds,
    has_stored,
    stored_article_ids,
    stored_reject_keys,
    stored_signatures,
)
from transforms.ingest.feed_lists import feed_sources
from transforms.ingest.fetch import ENTRY_REJECTS_TAG, FetchArticlePages, FetchFeedsFromState, finalize_feed_state
from transforms.ingest.parse import Parse
from transforms.ingest.read import ReadInputs
from transforms.ingest.sitemaps import FetchSitemaps, sitemap_page_rows
from transforms.languages import DetectLanguages
from transforms.metrics import count
from transforms.nlp.inference import AnalyseArticles
from transforms.rejects import FinalizeRejects
from transforms.sinks.checkpoints import WriteAnalysed
from transforms.sinks.commit import join, staging_dir
from transforms.sinks.write import WriteTableInBundles


def read_files(p: beam.Pipeline, label: str, opts, feed_files, started_at, chunk=None):
    """(parsed articles, [read rejects, parse rejects]) of the input files (or of one
    chunk of them, pipeline/chunks.py)."""
    planned = None if chunk is None else (chunk.ranges, chunk.rejects)
    raw, read_rejects = p | f"Read{label}" >> ReadInputs(opts.input, feed_files, started_at, planned=planned)
    # Sitemap files' entries are articles only with their pages: fetched with --fetch-articles.
    # Skipped records (WARC requests, 404s, ...) are counted by the first read only.
    parsed, parse_rejects = raw | f"Parse{label}" >> Parse(
        pages_follow=opts.fetch_articles is True, count_skipped=not label
    )
    return parsed, [read_rejects, parse_rejects]


def build_pipeline(
    p: beam.Pipeline, opts, run_id: str, started_at, checkpoint_seconds: float | None = None, chunk=None
) -> None:
    """Add newsbeam's stages to `p` for the inputs and output in `opts` (NewsbeamOptions).

    checkpoint_seconds: how often each worker commits the articles it has analysed
    (None: the run commits once, at the end; see transforms/sinks/checkpoints.py).
    chunk: the part of the input files to read (pipeline/chunks.py), None for all."""
    config = fetch_config(opts)
    staging = staging_dir(opts.output, run_id)  # where this run writes; opts.output is what is stored
    feed_urls, feed_files, list_rejects = feed_sources(opts.feed, opts.feeds_file, config)
    # --fetch-articles named: file articles get their pages from the web too, so they
    # cannot be read again either.
    reread_files = not opts.fetch_articles

    parsed_files, file_rejects = read_files(p, "", opts, feed_files, started_at, chunk)
    # Inputs are counted where they pass, not through a Flatten: that would hold them all.
    parsed_files = parsed_files | "CountFileInputs" >> count("inputs")
    input_rejects = [*file_rejects, p | "FeedListRejects" >> beam.Create(list_rejects)]
    fetched, state_rows = [], []  # one writer per table: feed and sitemap documents share feed_state
    if feed_urls:
        feeds = p | "FetchFeeds" >> FetchFeedsFromState(feed_urls, opts.output, config)
        state_rows.append(
            feeds["feed_state"]
            | "FeedStateRows" >> beam.Map(finalize_feed_state, run_id)
            | "CountFeeds" >> count("feeds", by="outcome")
        )
        parsed_feeds, feed_parse_rejects = feeds["raw"] | "ParseFetched" >> Parse()
        input_rejects += [feeds["rejects"], feed_parse_rejects]
        fetched.append(parsed_feeds | "CountFetchedInputs" >> count("inputs"))
    if opts.sitemap:  # an input per entry whose page is due; entries not due are counted, not inputs
        sitemaps = p | "FetchSitemaps" >> FetchSitemaps(opts.sitemap, opts.output, config)
        state_rows.append(
            sitemaps["feed_state"]
            | "SitemapStateRows" >> beam.Map(finalize_feed_state, run_id)
            | "CountSitemaps" >> count("sitemaps", by="outcome")
        )
        sitemaps["decisions"] | "CountSitemapEntries" >> count("sitemap_entries", by="decision")
        input_rejects.append(sitemaps["rejects"])
        fetched.append(sitemaps["entries"] | "CountSitemapInputs" >> count("inputs"))
    if state_rows:
        (
            state_rows
            | "AllStateRows" >> beam.Flatten()
            | "WriteFeedState" >> WriteTableInBundles(FEED_STATE, staging, run_id)
        )
    input_rejects = input_rejects | "InputRejects" >> beam.Flatten() | "CountRejectedInputs" >> count("inputs")

    enrichment_rejects = []
    kept_articles = []  # articles pass 2 takes from pass 1, not from the files
    if fetched or not reread_files:
        once = (*fetched, *([] if reread_files else [parsed_files])) | "FetchedArticles" >> beam.Flatten()
        if opts.fetch_articles is not False:
            pages = once | "FetchPages" >> FetchArticlePages(config, only_urls=not opts.fetch_articles)
            once = pages["articles"]
            enrichment_rejects.append(pages["rejects"] | "CountPageFailures" >> count("page_failures"))
            enrichment_rejects.append(pages[ENTRY_REJECTS_TAG] | "CountEntryRejects" >> count("rejects", by="stage"))
            (
                once
                | "SitemapPageRows" >> beam.FlatMap(sitemap_page_rows, run_id, started_at)
                | "WriteSitemapPages" >> WriteTableInBundles(SITEMAP_PAGES, staging, run_id)
            )
        kept_articles.append(once | "FinalizeFetched" >> beam.Map(finalize_article, run_id, started_at))
    file_articles = (
        [parsed_files | "Finalize" >> beam.Map(finalize_article, run_id, started_at)] if reread_files else []
    )

    # Pass 1: decide on compact key rows (made per branch: a Flatten of articles would hold them).
    keys = [
        articles | f"KeyRows{i}" >> beam.Map(article_key) for i, articles in enumerate((*file_articles, *kept_articles))
    ] | "AllKeyRows" >> beam.Flatten()
    # Stored rows are read semi-joined on the new articles' keys: only those can match.
    stored = has_stored(opts.output)
    new_keys = keys | "NewKeys" >> NewKeysOf() if stored else None
    winners, duplicates, _skipped, pending = keys | "Deduplicate" >> Deduplicate(
        stored_article_ids(p, opts.output, new_keys),
        stored_signatures(p, opts.output, new_keys),
        join(staging, PENDING_FOLDER),
        opts.near_dup_threshold,
        new_keys,
        StoredSignaturesWithIds(opts.output) if stored else None,
    )
    decisions = (winners, duplicates) | "Decisions" >> CompactDecisions()
    if opts.no_nlp:  # with NLP, each checkpoint writes its winners' signatures (transforms/sinks/checkpoints.py)
        (
            pending
            | "Signatures" >> beam.FlatMap(winner_signatures, beam.pvalue.AsSingleton(decisions))
            | "WriteSignatures" >> WriteTableInBundles(SIGNATURES, staging, run_id)
        )

    # Pass 2: the articles again, as decided, streamed through NLP into the tables.
    changed_inputs = []  # inputs that changed between the two reads: rejects, never lost
    if reread_files:
        parsed_again, again_rejects = read_files(p, "Again", opts, feed_files, started_at, chunk)
        kept_articles.append(parsed_again | "FinalizeAgain" >> beam.Map(finalize_article, run_id, started_at))
        # Rejects of the second read were counted in pass 1, but for inputs that changed in between.
        changed_inputs.append(
            again_rejects
            | "AgainRejects" >> beam.Flatten()
            | "ChangedBetweenReads" >> ChangedBetweenReads(file_rejects | "FirstReadRejects" >> beam.Flatten())
        )
    # One branch is fused whole; with fetched feeds too, the Flatten holds the articles.
    decided, changed = (
        (*kept_articles,) | "ArticlesToWrite" >> beam.Flatten() | "ApplyDecisions" >> ApplyDecisions(decisions)
    )
    decided = decided | "CountDecided" >> beam.ParDo(CountDecidedFn()) | "DetectLanguages" >> DetectLanguages()
    changed_inputs.append(changed)
    if opts.no_nlp:
        decided | "WriteArticles" >> WriteTableInBundles(ARTICLES, staging, run_id)
    else:  # each article with its entities, quotes, signature and NLP rejects, in checkpoints
        (
            decided
            | "NLP" >> AnalyseArticles(opts.spacy_model, opts.nlp_batch_chars)
            | "CountAnalysed" >> count("analysed")  # for the live display (pipeline/progress.py)
            | "WriteAnalysed" >> WriteAnalysed(opts.output, run_id, started_at, checkpoint_seconds)
        )

    changed_inputs = (
        changed_inputs | "ChangedInputs" >> beam.Flatten() | "CountChanged" >> count("rejects", by="stage")
    )  # inputs counted in pass 1, not written
    (
        (input_rejects | "CountRejects" >> count("rejects", by="stage"), changed_inputs, *enrichment_rejects)
        | "AllRejects" >> beam.Flatten()
        | "FinalizeRejects" >> FinalizeRejects(stored_reject_keys(p, opts.output), run_id, started_at)
        | "WriteRejects" >> WriteTableInBundles(REJECTS, staging, run_id)
    )
