"""Beam transforms that fetch feeds and article pages politely.

Politeness: work is keyed by (host, slot) with slot = stable_hash(url) % per_host_limit
and each key's requests are made one after another, so no host sees more than
per_host_limit concurrent requests from one run, whatever the runner's parallelism.
A bounded input is grouped by key (GroupByKey); an unbounded one (a stream) cannot
wait for a group's end, so a stateful DoFn takes each key's elements in turn (runners
process one key's elements one at a time) and remembers when its last request ended.
"""

from __future__ import annotations

import hashlib
import re
import time
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.coders import FloatCoder
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from schemas.tables import FEED_STATE
from transforms.articles import partition_date
from transforms.dedup.stored import stored_rows
from transforms.ingest.feeds import MAX_ENTRY_TEXT_CHARS
from transforms.ingest.html import charset_from_content_type, extract_html
from transforms.ingest.http_fetch import PAGE_ACCEPT, FetchConfig, FetchResult, fetch
from transforms.ingest.urls import url_error, url_host
from transforms.languages import normalise_language
from transforms.rejects import RejectError, make_reject

RAW_TAG, STATE_TAG, REJECTS_TAG = "raw", "feed_state", "rejects"
ARTICLES_TAG = "articles"
# Rejects of entries that have no text of their own (sitemap entries): without their
# page they are no article, so the reject is the entry's outcome, not a page failure.
ENTRY_REJECTS_TAG = "entry_rejects"


def stable_hash(text: str) -> int:
    """A hash that is the same in every process and run (unlike hash())."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8", "replace")).digest()[:8], "big")


def host_of(url: str) -> str:
    """The host to be polite to; "" for a URL without one or that urllib cannot parse
    (its fetch then fails as `bad_url`)."""
    return url_host(url) or ""


def politeness_key(url: str, per_host_limit: int) -> tuple[str, int]:
    return host_of(url), stable_hash(url) % max(1, per_host_limit)


def fetch_reject(input_name: str, result: FetchResult) -> dict:
    """The reject of a fetch that failed (`result.error` set)."""
    return make_reject(input_name, "fetch", result.error or "fetch_failed", result.detail)


# --- feed state ----------------------------------------------------------------


def feed_state_row(url: str, previous: dict | None, result: FetchResult) -> dict:
    """The FEED_STATE row (without run_id/date) after fetching `url`.

    On failure the previous validators are kept so the next run is still conditional.
    """
    previous = previous or {}
    if result.error:
        outcome = "failed"
    elif result.changed:
        outcome = "new"
    else:
        outcome = "not_modified"
    keep_old = result.error is not None
    return {
        "url": url,
        "final_url": result.final_url,
        "etag": previous.get("etag") if keep_old else (result.etag or previous.get("etag")),
        "last_modified": (
            previous.get("last_modified") if keep_old else (result.last_modified or previous.get("last_modified"))
        ),
        "body_hash": previous.get("body_hash") if keep_old or not result.body_hash else result.body_hash,
        "last_status": result.status,
        "last_fetched_at": result.fetched_at,
        "outcome": outcome,
        "error": result.error,
    }


def finalize_feed_state(row: dict, run_id: str) -> dict:
    """Add the columns every table carries (run_id, date partition)."""
    return {**row, "run_id": run_id, "date": partition_date(row["last_fetched_at"])}


def raw_input_for(url: str, result: FetchResult) -> dict:
    return {
        "input": url,
        "name": urlsplit(result.final_url or url).path or url,
        "data": result.body,
        "fetched_at": result.fetched_at,
        "format": "feed",
    }


def latest_states(rows) -> dict:
    """url -> newest FEED_STATE row, from rows read back from earlier runs."""
    newest: dict[str, dict] = {}
    for row in rows:
        current = newest.get(row["url"])
        if current is None or row["last_fetched_at"] > current["last_fetched_at"]:
            newest[row["url"]] = row
    return newest


# --- FetchFeeds ------------------------------------------------------------------


@beam.typehints.with_output_types(dict)  # the main output: RawInput dicts (tagged ones aside)
class FetchFeedGroupDoFn(beam.DoFn):
    """Fetches one (host, slot) group of feeds one after another."""

    def __init__(self, config: FetchConfig):
        self.config = config

    def process(self, keyed_group):
        _, items = keyed_group
        for index, (url, state) in enumerate(sorted(items, key=lambda item: item[0])):
            if index and self.config.per_host_delay:
                time.sleep(self.config.per_host_delay)
            result = fetch(url, state, self.config)
            yield pvalue.TaggedOutput(STATE_TAG, feed_state_row(url, state, result))
            if result.error:
                yield pvalue.TaggedOutput(REJECTS_TAG, fetch_reject(url, result))
            elif result.changed:
                yield raw_input_for(url, result)


class FetchFeeds(beam.PTransform):
    """(url, state dict or None) -> tagged outputs:
    `raw` RawInput dicts (format "feed") for new content, `feed_state` FEED_STATE rows
    (one per url), `rejects` Reject dicts (stage "fetch")."""

    def __init__(self, config: FetchConfig = FetchConfig()):
        super().__init__()
        self.config = config

    def expand(self, url_states):
        limit = self.config.per_host_limit
        outputs = (
            url_states
            | "KeyByHostSlot" >> beam.Map(lambda item: (politeness_key(item[0], limit), item))
            | "GroupByHostSlot" >> beam.GroupByKey()
            | "FetchGroup"
            >> beam.ParDo(FetchFeedGroupDoFn(self.config)).with_outputs(STATE_TAG, REJECTS_TAG, main=RAW_TAG)
        )
        return {tag: outputs[tag] for tag in (RAW_TAG, STATE_TAG, REJECTS_TAG)}


# --- FetchArticlePages -----------------------------------------------------------


def extract_page(result: FetchResult, url: str) -> dict:
    """The fetched page's article through the one HTML path (transforms/ingest/html.py),
    the charset of the HTTP Content-Type first. RejectError when it is not text or
    holds no article, or when there is no page (a 304 to a request without validators)."""
    if result.body is None:
        raise RejectError("http_error", f"HTTP {result.status} without a body")
    return extract_html(result.body, url, charset_from_content_type(result.content_type))


def merge_page(article: dict, page: dict) -> dict:
    """The page's text wins; its metadata only fills what the feed lacked."""
    merged = dict(article, text=page["text"], text_source="page")
    canonical = page.get("url")
    # A page's declared URL that urllib cannot parse is ignored, like a relative one.
    if isinstance(canonical, str) and re.match(r"https?://", canonical, re.IGNORECASE) and url_error(canonical) is None:
        merged["url"] = canonical
    merged["authors"] = article.get("authors") or page["authors"]
    merged["published_at"] = article.get("published_at") or page["published_at"]
    merged["language"] = article.get("language") or normalise_language(page.get("language"))
    merged["title"] = article.get("title") or page.get("title")
    return merged


def is_html(content_type: str | None) -> bool:
    return content_type is None or "html" in content_type.lower()


def enrich_with_page(article: dict, config: FetchConfig) -> tuple[dict, dict | None]:
    """(article, reject or None): the page version, or the feed version plus a reject."""
    url = article["url"]
    result = fetch(url, None, config, accept=PAGE_ACCEPT)
    if result.error:
        return article, fetch_reject(url, result)
    if not is_html(result.content_type):
        return article, {
            "input": url,
            "stage": "fetch",
            "error": "not_html",
            "detail": f"Content-Type {result.content_type}",
        }
    try:
        page = extract_page(result, result.final_url or url)
    except RejectError as error:  # no article on the page, or not text at all
        code = "no_article_text" if error.error == "empty_text" else error.error
        return article, make_reject(url, "fetch", code, str(error))
    except Exception as exc:  # noqa: BLE001 - trafilatura/lxml on hostile HTML: any failure is this page's reject
        return article, make_reject(url, "fetch", "no_article_text", f"{type(exc).__name__}: {exc}"[:500])
    if len(page["text"]) > MAX_ENTRY_TEXT_CHARS:
        detail = f"page text of {len(page['text'])} characters (limit {MAX_ENTRY_TEXT_CHARS})"
        return article, make_reject(url, "fetch", "text_too_long", detail)
    return merge_page(article, page), None


def wants_page(article: dict, only_from_url_feeds: bool = False) -> bool:
    """Feed entries with an http(s) link; with only_from_url_feeds, only those of
    feeds fetched over HTTP (entries of feed files on disk keep their content).
    Sitemap entries (no content to keep) always."""
    url = article.get("url")
    if article.get("text_source") == "sitemap":
        return isinstance(url, str) and re.match(r"https?://", url, re.IGNORECASE) is not None
    if only_from_url_feeds and not re.match(r"https?://", article.get("input") or "", re.IGNORECASE):
        return False
    return (
        article.get("text_source") == "feed"
        and isinstance(url, str)
        and re.match(r"https?://", url, re.IGNORECASE) is not None
    )


def page_outputs(article: dict, config: FetchConfig):
    """The article (page version, else unchanged) and, when its page failed, a tagged
    reject; an article with no text of its own is only the reject (ENTRY_REJECTS_TAG)."""
    merged, reject = enrich_with_page(article, config)
    if reject and not article.get("text"):
        yield pvalue.TaggedOutput(
            ENTRY_REJECTS_TAG,
            make_reject(
                article["input"], reject["stage"], reject["error"], f"page {article['url']}: {reject['detail']}"
            ),
        )
        return
    if reject:
        yield pvalue.TaggedOutput(REJECTS_TAG, reject)
    yield merged


class FetchPageGroupDoFn(beam.DoFn):
    """Fetches one (host, slot) group of pages one after another (bounded inputs)."""

    def __init__(self, config: FetchConfig):
        self.config = config

    def process(self, keyed_group):
        _, articles = keyed_group
        for index, article in enumerate(sorted(articles, key=lambda a: a["input"])):
            if index and self.config.per_host_delay:
                time.sleep(self.config.per_host_delay)
            yield from page_outputs(article, self.config)


def pause_before(last_request_end: float | None, delay: float, now: float) -> float:
    """Seconds to wait so that `delay` separates a key's requests (0 for its first)."""
    return 0.0 if last_request_end is None else max(0.0, last_request_end + delay - now)


class FetchPageInTurnDoFn(beam.DoFn):
    """Fetches the page of one ((host, slot), article) after the key's previous request
    (unbounded inputs). Keyed state: a runner processes one key's elements one at a
    time (Prism only with its bundle splitting off: pipeline/stream_graph.py), so each
    key has at most one request open; the state holds when its last request ended
    (wall clock), for the pause. No timers: one float per key."""

    LAST_REQUEST_END = ReadModifyWriteStateSpec("last_request_end", FloatCoder())

    def __init__(self, config: FetchConfig):
        self.config = config

    def process(self, keyed_article, last_end=beam.DoFn.StateParam(LAST_REQUEST_END)):
        _, article = keyed_article
        wait = pause_before(last_end.read(), self.config.per_host_delay, time.time())
        if wait:
            time.sleep(wait)
        outputs = list(page_outputs(article, self.config))
        last_end.write(time.time())  # a failed request counts for the pause too
        yield from outputs


class FetchArticlePages(beam.PTransform):
    """ParsedArticle dicts from feeds -> tagged outputs: `articles` (page text where the
    page was fetched and extracted, else unchanged), `rejects` (stage "fetch") and
    `entry_rejects` (sitemap entries whose page failed: those are no article).
    Articles without an http(s) link pass through untouched.

    Bounded input: each (host, slot) group is fetched in turn. Unbounded input (a
    stream): a GroupByKey in the global window could only fire at the end of time
    (Beam refuses it), so a stateful DoFn fetches each key's pages in turn as they
    come; they keep their poll's timestamp, so later windowing puts an article, its
    rows and its page reject in the window of the poll that found it."""

    def __init__(self, config: FetchConfig = FetchConfig(), only_urls: bool = False):
        super().__init__()
        self.config, self.only_urls = config, only_urls

    def expand(self, articles):
        limit, only_urls = self.config.per_host_limit, self.only_urls
        split = articles | "NeedsPage" >> beam.Partition(lambda a, _: 0 if wants_page(a, only_urls) else 1, 2)
        keyed = split[0] | "KeyByHostSlot" >> beam.Map(lambda a: (politeness_key(a["url"], limit), a))
        if articles.is_bounded:
            fetched = (
                keyed
                | "GroupByHostSlot" >> beam.GroupByKey()
                | "FetchPages"
                >> beam.ParDo(FetchPageGroupDoFn(self.config)).with_outputs(
                    REJECTS_TAG, ENTRY_REJECTS_TAG, main=ARTICLES_TAG
                )
            )
        else:
            fetched = keyed | "FetchPagesInTurn" >> beam.ParDo(FetchPageInTurnDoFn(self.config)).with_outputs(
                REJECTS_TAG, ENTRY_REJECTS_TAG, main=ARTICLES_TAG
            )
        merged = (fetched[ARTICLES_TAG], split[1]) | "AllArticles" >> beam.Flatten()
        return {ARTICLES_TAG: merged, REJECTS_TAG: fetched[REJECTS_TAG], ENTRY_REJECTS_TAG: fetched[ENTRY_REJECTS_TAG]}


def stored_feed_states(output_dir: str) -> dict:
    """url -> newest stored FEED_STATE row. Small (a row per feed per run): read
    where the graph is built."""
    return latest_states(stored_rows(output_dir, FEED_STATE.name, FEED_STATE.column_names[:-1]))


class FetchFeedsFromState(beam.PTransform):
    """Feed URLs -> FetchFeeds outputs, sending each feed's stored ETag/Last-Modified."""

    def __init__(self, urls, output_dir: str, config):
        super().__init__()
        self.urls, self.output_dir, self.config = urls, output_dir, config

    def expand(self, pbegin):
        states = stored_feed_states(self.output_dir)
        return (
            pbegin
            | "FeedUrls" >> beam.Create([(url, states.get(url)) for url in self.urls])
            | "Fetch" >> FetchFeeds(self.config)
        )
