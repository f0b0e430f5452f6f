"""The streaming graph: Poll -> Parse -> Deduplicate (stateful) -> NLP -> windowed Write
-> one commit per window.

Only wiring lives here; the stages are composite PTransforms in transforms/.
"""

from datetime import timedelta

import apache_beam as beam
from apache_beam.options.pipeline_options import DebugOptions
from apache_beam.transforms.window import FixedWindows

from pipeline.options import fetch_config
from schemas.tables import FEED_STATE, REJECTS, SIGNATURES
from transforms.dedup.decide import REASON_CONTENT, REASON_STORED, REASON_URL
from transforms.dedup.near_duplicates import signature_row
from transforms.ingest.feed_lists import feed_sources
from transforms.ingest.fetch import FetchArticlePages, finalize_feed_state, stored_feed_states
from transforms.ingest.parse import Parse
from transforms.ingest.streaming import DedupAgainstSeen, PollFeeds, PollTicks, finalize_now
from transforms.languages import DetectLanguages
from transforms.metrics import count
from transforms.rejects import finalize_reject_now
from transforms.sinks.commit import CommitWindows, tally
from transforms.sinks.outputs import AnalyseAndWrite
from transforms.sinks.write import WriteTable

FOREVER = 10**11  # epoch seconds far beyond any run: "until stopped"
# Prism (Beam 2.77) splits a bundle that makes no progress for a while and hands the
# split-off elements to a new bundle while the first still runs, even in stateful
# stages: two bundles then hold one key at once (page requests to one host slot ran
# in parallel, and an article's entities and quotes were lost). The stream's stateful
# steps (feed polling, page fetching, dedup) need one bundle per key: no runner splits.
# Other runners ignore the experiment.
NO_RUNNER_SPLITS = "prism_disable_sdf_split"


def build_stream_pipeline(p: beam.Pipeline, opts, run_id: str, started_at, stop_file: str) -> dict:
    """Add the streaming stages to `p`: poll `opts`' feeds until `--duration` or `stop_file`.

    A stream's accounting (inputs, articles, duplicates, rejects) is data, not
    metrics: tally tokens go into each window's commit (transforms/sinks/commit.py,
    TallyFn). Returns the counts known before the stream starts (feed-list
    rejects), which the driver records in the run's own commit."""
    p.options.view_as(DebugOptions).add_experiment(NO_RUNNER_SPLITS)
    config = fetch_config(opts)
    feed_urls, _, list_rejects = feed_sources(opts.feed, opts.feeds_file, config)
    start = started_at.timestamp()
    stop = start + opts.duration if opts.duration else FOREVER
    horizon = timedelta(days=opts.dedup_horizon_days)

    def windowed(pcoll, name):
        return pcoll | f"Window{name}" >> beam.WindowInto(FixedWindows(opts.window))

    ticks = p | "Ticks" >> PollTicks(start, stop, opts.poll_interval, stop_file)
    polled = ticks | "PollFeeds" >> PollFeeds(feed_urls, config, stored_feed_states(opts.output))
    parsed, parse_rejects = polled["raw"] | "Parse" >> Parse()
    input_rejects = (parse_rejects, polled["rejects"]) | "InputRejects" >> beam.Flatten()
    tallies = [
        windowed((parsed, input_rejects) | "AllInputs" >> beam.Flatten(), "Inputs")
        | "TallyInputs" >> tally(run_id, "inputs")
    ]
    side_rejects = []
    if opts.fetch_articles is not False:
        # Unbounded: FetchArticlePages fetches each (host, slot)'s pages in turn with
        # keyed state; pages keep their poll's timestamp, so the windowing below puts
        # them, their rows and their rejects in the window of that poll.
        pages = parsed | "FetchPages" >> FetchArticlePages(config)
        parsed = pages["articles"]
        side_rejects.append(windowed(pages["rejects"] | "CountPageFailures" >> count("page_failures"), "PageRejects"))

    articles = parsed | "Finalize" >> beam.Map(finalize_now, run_id)
    unseen, skipped = articles | "SkipStored" >> DedupAgainstSeen(
        "article_id", REASON_STORED, opts.output, horizon, skip=True
    )
    after_content, by_content = unseen | "SameContent" >> DedupAgainstSeen(
        "content_hash", REASON_CONTENT, opts.output, horizon
    )
    winners, by_url = after_content | "SameUrl" >> DedupAgainstSeen("canonical_url", REASON_URL, opts.output, horizon)
    duplicates = windowed((by_content, by_url) | "Duplicates" >> beam.Flatten(), "Duplicates")
    winners = windowed(winners, "Winners")
    tallies += [
        windowed(skipped, "Skipped") | "TallySkipped" >> tally(run_id, "duplicates", by="duplicate_reason"),
        duplicates | "TallyDuplicates" >> tally(run_id, "duplicates", by="duplicate_reason"),
        winners | "TallyWinners" >> tally(run_id, "articles"),
    ]

    analysed = (
        (winners, duplicates)
        | "Decided" >> beam.Flatten()
        | "DetectLanguages" >> DetectLanguages()
        | "AnalyseAndWrite"
        >> AnalyseAndWrite(opts.output, run_id, not opts.no_nlp, opts.spacy_model, opts.nlp_batch_chars)
    )
    side_rejects.append(analysed["rejects"])
    written = [analysed["written"]]
    written.append(
        winners
        | "Signatures" >> beam.Map(signature_row)
        | "WriteSignatures" >> WriteTable(SIGNATURES, opts.output, run_id)
    )
    written.append(
        windowed(polled["feed_state"], "FeedState")
        | "FeedStateRows" >> beam.Map(finalize_feed_state, run_id)
        | "CountFeeds" >> count("feeds", by="outcome")
        | "WriteFeedState" >> WriteTable(FEED_STATE, opts.output, run_id)
    )

    counted_rejects = windowed(input_rejects, "InputRejects")
    tallies.append(counted_rejects | "TallyRejects" >> tally(run_id, "rejects", by="stage"))
    list_counts = {"inputs": len(list_rejects), "rejects": len(list_rejects)}
    for reject in list_rejects:
        list_counts[f"rejects.{reject['stage']}"] = list_counts.get(f"rejects.{reject['stage']}", 0) + 1
    list_reject_rows = p | "FeedListRejects" >> beam.Create(list_rejects)
    written.append(
        (counted_rejects, *side_rejects)
        | "AllRejects" >> beam.Flatten()
        | "RejectRows" >> beam.Map(finalize_reject_now, run_id)
        | "WriteRejects" >> WriteTable(REJECTS, opts.output, run_id)
    )
    # Feed-list rejects belong to no window: staged under the run's own id, committed
    # by the driver when the stream ends (pipeline/run.py).
    (
        list_reject_rows
        | "ListRejectRows" >> beam.Map(finalize_reject_now, run_id)
        | "WriteListRejects" >> WriteTable(REJECTS, opts.output, run_id)
    )
    # Each window commits whole: articles with their entities, quotes, signatures,
    # rejects and feed state.
    (*written, *tallies) | "AllWritten" >> beam.Flatten() | "CommitWindows" >> CommitWindows(opts.output, run_id)
    return list_counts if list_rejects else {}  # (the feed-list rejects, known before the stream starts)
