"""fetch() against a real local server: validators, retries, limits, SSRF."""

import http.client
import time
from datetime import datetime, timezone

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that
from conftest import beam_pipeline
from feed_server import Response, feed_server  # noqa: F401 - pytest fixture

from transforms.ingest.feeds import parse_feed
from transforms.ingest.fetch import (
    FetchArticlePages,
    FetchFeeds,
    feed_state_row,
    finalize_feed_state,
    politeness_key,
    stable_hash,
)
from transforms.ingest.http_fetch import (
    USER_AGENT,
    FetchConfig,
    address_block_reason,
    attempt_seconds,
    budget_seconds,
    classify_exception,
    fetch,
    parse_retry_after,
    with_overrides,
)

LOCAL = FetchConfig(
    allow_private_hosts=True,
    connect_timeout=2,
    read_timeout=1,
    backoff_seconds=0.05,
    max_retry_after=2,
    per_host_delay=0,
    max_bytes=1024 * 1024,
)


def test_fetch_sends_user_agent_and_gets_validators(feed_server):
    result = fetch(feed_server.url("/feed.xml"), None, LOCAL)
    assert result.ok and result.status == 200 and result.changed
    assert result.etag == '"v1"' and result.last_modified
    assert len(result.body_hash) == 64 and result.body.startswith(b"<?xml")
    assert result.content_type.startswith("application/rss+xml")
    assert feed_server.requests_to("/feed.xml")[0].headers["user-agent"] == USER_AGENT
    assert USER_AGENT == "newsbeam/0.1.0 (+https://github.com/newsbeam)"


def test_second_fetch_is_conditional_and_not_modified(feed_server):
    first = fetch(feed_server.url("/feed.xml"), None, LOCAL)
    state = {"etag": first.etag, "last_modified": first.last_modified, "body_hash": first.body_hash}
    second = fetch(feed_server.url("/feed.xml"), state, LOCAL)
    sent = feed_server.requests_to("/feed.xml")[1].headers
    assert sent["if-none-match"] == '"v1"' and sent["if-modified-since"] == first.last_modified
    assert second.status == 304 and second.body is None and second.not_modified


def test_same_body_hash_means_no_work(feed_server):
    first = fetch(feed_server.url("/same-body.xml"), None, LOCAL)
    second = fetch(feed_server.url("/same-body.xml"), {"body_hash": first.body_hash}, LOCAL)
    assert second.status == 200 and not second.changed and second.not_modified


def test_changing_feed_is_new_each_time(feed_server):
    first = fetch(feed_server.url("/changing.xml"), None, LOCAL)
    second = fetch(feed_server.url("/changing.xml"), {"etag": first.etag, "body_hash": first.body_hash}, LOCAL)
    assert second.changed and second.body_hash != first.body_hash and second.etag == '"c2"'


def test_slow_endpoint_times_out_after_retries(feed_server):
    config = FetchConfig(**{**LOCAL.__dict__, "read_timeout": 0.3, "max_attempts": 2})
    started = time.monotonic()
    result = fetch(feed_server.url("/slow.xml"), None, config)
    assert result.error == "timeout" and result.attempts == 2
    assert time.monotonic() - started < 2.5


# --- time limits: a deadline per attempt and a budget per fetch ---------------------


@pytest.mark.parametrize("path", ["/drip-body.xml", "/drip-headers.xml"])
def test_dripping_server_is_cut_off_at_total_timeout(feed_server, path):
    # A byte (or a header line) comes every 0.2 s, so the 1 s read timeout never
    # fires, and the whole answer would take ~10 s.
    started = time.monotonic()
    result = fetch(feed_server.url(path), None, with_overrides(LOCAL, total_timeout=1.0))
    assert time.monotonic() - started < 5
    assert result.error == "deadline" and "total_timeout 1s" in result.detail
    assert result.attempts == 1 and result.body is None  # a deadline is not retried


def test_retries_stop_at_fetch_budget(feed_server):
    # /slow.xml answers after 3 s: every attempt is a (retryable) read timeout. Ten
    # attempts with doubling waits would take ~55 s; the budget stops them at 1.5 s.
    config = with_overrides(LOCAL, read_timeout=0.3, max_attempts=10, backoff_seconds=0.1, fetch_budget=1.5)
    started = time.monotonic()
    result = fetch(feed_server.url("/slow.xml"), None, config)
    assert time.monotonic() - started < 4
    assert result.error in ("timeout", "deadline") and "fetch_budget 1.5s" in result.detail
    assert 2 <= result.attempts < 10


def test_time_limits_follow_the_read_timeout_unless_set():
    assert (attempt_seconds(FetchConfig()), budget_seconds(FetchConfig())) == (60, 120)
    assert (attempt_seconds(FetchConfig(read_timeout=100)), budget_seconds(FetchConfig(read_timeout=100))) == (200, 400)
    config = FetchConfig(total_timeout=5, fetch_budget=7)
    assert (attempt_seconds(config), budget_seconds(config)) == (5, 7)


def test_500_then_200_is_retried(feed_server):
    result = fetch(feed_server.url("/flaky.xml"), None, LOCAL)
    assert result.ok and result.status == 200 and result.attempts == 2


def test_persistent_5xx_gives_up_with_status(feed_server):
    result = fetch(feed_server.url("/always-500.xml"), None, LOCAL)
    assert result.error == "http_error" and result.status == 503 and result.attempts == 3


def test_429_honours_retry_after(feed_server):
    started = time.monotonic()
    result = fetch(feed_server.url("/ratelimited.xml"), None, LOCAL)
    assert result.ok and result.attempts == 2
    assert time.monotonic() - started >= 0.9


def test_too_long_retry_after_gives_up_at_once(feed_server):
    started = time.monotonic()
    result = fetch(feed_server.url("/ratelimited-long.xml"), None, LOCAL)
    assert result.status == 429 and result.attempts == 1 and time.monotonic() - started < 1


def test_redirect_is_followed(feed_server):
    result = fetch(feed_server.url("/redirect-once"), None, LOCAL)
    assert result.ok and result.final_url == feed_server.url("/feed.xml")


def test_redirect_loop_stops_after_five_hops(feed_server):
    result = fetch(feed_server.url("/loop-a"), None, LOCAL)
    assert result.error == "too_many_redirects" and result.attempts == 1
    assert len(feed_server.requests_to("/loop-a")) + len(feed_server.requests_to("/loop-b")) == 6


@pytest.mark.parametrize("path", ["/big.xml", "/big-unannounced.xml", "/gzip-bomb.xml"])
def test_size_cap(feed_server, path):
    result = fetch(feed_server.url(path), None, LOCAL)
    assert result.error == "too_large" and result.body is None and result.attempts == 1


def test_gzip_is_decoded(feed_server):
    result = fetch(feed_server.url("/gzip.xml"), None, LOCAL)
    assert result.ok and result.body.startswith(b"<?xml")
    assert "gzip" in feed_server.requests_to("/gzip.xml")[0].headers["accept-encoding"]


def test_wrong_charset_header_still_parses(feed_server):
    result = fetch(feed_server.url("/wrong-charset.xml"), None, LOCAL)
    fetched = datetime.now(timezone.utc)
    for content_type in (None, result.content_type):
        articles, rejects = parse_feed(result.body, "w", fetched, content_type=content_type)
        assert rejects == [] and articles[0]["text"] == "Zürich größte Stadt."
        assert articles[0]["source"] == "Zürich Zeitung"


def test_entity_expansion_feed_is_rejected(feed_server):
    result = fetch(feed_server.url("/lol.xml"), None, LOCAL)
    articles, rejects = parse_feed(result.body, "lol", datetime.now(timezone.utc))
    assert articles == [] and rejects[0]["error"] == "unsafe_xml"


# --- SSRF ------------------------------------------------------------------------


def test_loopback_is_refused_without_allow_private_hosts(feed_server):
    result = fetch(feed_server.url("/feed.xml"), None, FetchConfig())
    assert result.error == "blocked_host" and result.attempts == 1
    assert "loopback" in result.detail and "--allow-private-hosts" in result.detail
    assert feed_server.requests_to("/feed.xml") == []


def test_redirect_to_private_address_is_refused(feed_server):
    # localhost is trusted for the first hop only; the redirect names 127.0.0.1 itself.
    config = FetchConfig(trusted_hosts=("localhost",), per_host_delay=0)
    result = fetch(feed_server.url("/redirect-to-ip", host="localhost"), None, config)
    assert result.error == "blocked_host" and "127.0.0.1" in result.detail
    assert len(feed_server.requests_to("/redirect-to-ip")) == 1
    assert feed_server.requests_to("/feed.xml") == []


def test_redirect_to_file_url_is_refused(feed_server):
    result = fetch(feed_server.url("/redirect-to-file"), None, LOCAL)
    assert result.error == "bad_scheme" and "file:///etc/passwd" in result.detail


def test_redirect_to_unparseable_location_is_bad_url(feed_server):
    result = fetch(feed_server.url("/redirect-to-broken"), None, LOCAL)
    assert result.error == "bad_url" and "http://[::1/x" in result.detail and result.attempts == 1


def test_non_ascii_path_is_sent_percent_encoded(feed_server):
    feed_server.route("/stra%C3%9Fe%20neu.xml", lambda r: Response(200, {}, b"<rss/>"))
    result = fetch(feed_server.url("/straße neu.xml"), None, LOCAL)
    assert result.ok and result.body == b"<rss/>"
    assert len(feed_server.requests_to("/stra%C3%9Fe%20neu.xml")) == 1


def test_invalid_url_from_http_client_is_bad_url_not_retried():
    error = classify_exception(http.client.InvalidURL("URL can't contain control characters"))
    assert error.code == "bad_url"


@pytest.mark.parametrize(
    "url, error",
    [
        ("file:///etc/passwd", "bad_scheme"),
        ("ftp://example.com/x", "bad_scheme"),
        ("http://", "bad_url"),
        ("http://[::1", "bad_url"),
        ("not a url", "bad_scheme"),
        ("http://[example]/x", "bad_url"),
        ("http://example.com:abc/", "bad_url"),
        ("http://[2002:a9fe:a9fe::1]/latest/meta-data", "blocked_host"),
        ("http://[fec0::1]/", "blocked_host"),
        ("http://[64:ff9b::a9fe:a9fe]/", "blocked_host"),
        ("http://[2001:0:a00:1::f7f7:f7f7]/", "blocked_host"),
        ("http://no-such-host.invalid/feed", "unresolvable"),
        ("http://169.254.169.254/latest/meta-data", "blocked_host"),
        ("http://[::ffff:127.0.0.1]/", "blocked_host"),
        ("http://0.0.0.0/", "blocked_host"),
        ("http://10.1.2.3/", "blocked_host"),
        ("http://2130706433/", "blocked_host"),
    ],
)
def test_refused_urls(url, error):
    result = fetch(url, None, FetchConfig(backoff_seconds=0))
    assert result.error == error and result.attempts == 1


@pytest.mark.parametrize(
    "ip, reason",
    [
        ("127.0.0.1", "loopback"),
        ("10.0.0.1", "private"),
        ("169.254.1.1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("::1", "loopback"),
        ("100.64.0.1", "non-global"),
        ("93.184.216.34", None),
        ("2606:4700::1111", None),
    ],
)
def test_address_block_reason(ip, reason):
    assert address_block_reason(ip) == reason


# An IPv6 address that carries an IPv4 address is judged by that address (93.184.216.34
# is 5db8:d822, 8.8.8.8 is 0808:0808; a Teredo client is stored inverted).
@pytest.mark.parametrize(
    "ip, reason",
    [
        ("::ffff:127.0.0.1", "loopback (ipv4-mapped 127.0.0.1)"),
        ("::ffff:93.184.216.34", None),
        ("::a9fe:a9fe", "link-local (ipv4-compatible 169.254.169.254)"),
        ("::5db8:d822", "reserved"),  # deprecated form: refused even for a public address
        ("2002:a9fe:a9fe::1", "link-local (6to4 169.254.169.254)"),
        ("2002:a00:1::1", "private (6to4 10.0.0.1)"),
        ("2002:5db8:d822::1", None),
        ("64:ff9b::7f00:1", "loopback (nat64 127.0.0.1)"),
        ("64:ff9b::5db8:d822", None),
        ("64:ff9b:1::a9fe:a9fe", "link-local (nat64 169.254.169.254)"),
        ("64:ff9b:1::5db8:d822", None),
        ("2001:0:a00:1::f7f7:f7f7", "private (teredo 10.0.0.1)"),  # server 10.0.0.1
        ("2001:0:5db8:d822::80ff:fffe", "loopback (teredo 127.0.0.1)"),  # client 127.0.0.1
        ("2001:0:5db8:d822::f7f7:f7f7", None),  # both public
        ("fec0::1", "site-local"),
        ("feff:ffff::1", "site-local"),
        ("fe80::1%eth0", "link-local"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("::", "unspecified"),
        ("2001:db8::1", "private"),
    ],
)
def test_embedded_ipv4_and_site_local(ip, reason):
    assert address_block_reason(ip) == reason


def test_parse_retry_after():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


# --- Beam transforms ---------------------------------------------------------------


def check(expectation):
    """assert_that matcher that runs `expectation(list_of_elements)`."""

    def matcher(elements):
        expectation(list(elements))

    return matcher


def local_urls(server):
    """A url() that closes over a string only, so assert_that matchers pickle."""
    base = server.url("")
    return lambda path: base + path


def test_fetch_feeds_pipeline(feed_server):
    url = local_urls(feed_server)
    feed_hash = fetch(url("/same-body.xml"), None, LOCAL).body_hash
    inputs = [
        (url("/feed.xml"), None),
        (url("/same-body.xml"), {"body_hash": feed_hash}),
        (url("/redirect-once"), {"etag": '"v1"', "last_modified": None, "body_hash": "old"}),
        (url("/loop-a"), {"etag": '"kept"', "last_modified": "Mon, 01 Jan 2024 00:00:00 GMT", "body_hash": "h"}),
    ]

    def raw_ok(raws):
        assert [r["input"] for r in raws] == [url("/feed.xml")]
        raw = raws[0]
        assert raw["format"] == "feed" and raw["name"] == "/feed.xml" and raw["data"].startswith(b"<?xml")
        assert raw["fetched_at"].tzinfo is not None

    def states_ok(states):
        by_url = {s["url"]: s for s in states}
        assert by_url[url("/feed.xml")]["outcome"] == "new"
        assert by_url[url("/feed.xml")]["etag"] == '"v1"'
        assert by_url[url("/same-body.xml")]["outcome"] == "not_modified"
        assert by_url[url("/redirect-once")]["outcome"] == "not_modified"
        assert by_url[url("/redirect-once")]["last_status"] == 304
        failed = by_url[url("/loop-a")]
        assert failed["outcome"] == "failed" and failed["error"] == "too_many_redirects"
        assert failed["etag"] == '"kept"' and failed["body_hash"] == "h"

    def rejects_ok(rejects):
        assert rejects == [
            {"input": url("/loop-a"), "stage": "fetch", "error": "too_many_redirects", "detail": rejects[0]["detail"]}
        ]

    with beam_pipeline() as pipeline:
        outputs = pipeline | beam.Create(inputs) | FetchFeeds(LOCAL)
        assert_that(outputs["raw"], check(raw_ok), label="raw")
        assert_that(outputs["feed_state"], check(states_ok), label="state")
        assert_that(outputs["rejects"], check(rejects_ok), label="rejects")


def test_fetch_article_pages_pipeline(feed_server):
    url = local_urls(feed_server)
    fetched = fetch(url("/feed.xml"), None, LOCAL)
    articles, parse_rejects = parse_feed(fetched.body, url("/feed.xml"), fetched.fetched_at)
    assert len(articles) == 2 and parse_rejects[0]["error"] == "empty_entry"
    undated = dict(articles[0], input="manual#0", published_at=None, authors=[])
    no_link = dict(articles[0], input="manual#1", url=None)

    def articles_ok(results):
        by_input = {a["input"]: a for a in results}
        page = by_input[url("/feed.xml") + "#0"]
        assert page["text_source"] == "page" and "harbour plan" in page["text"]
        assert "\n\n" in page["text"] and "Copyright" not in page["text"]
        assert page["url"] == url("/canonical/harbour")
        assert page["published_at"] == articles[0]["published_at"]  # the feed's date wins
        assert by_input["manual#0"]["published_at"] == datetime(2024, 4, 29, tzinfo=timezone.utc)
        assert by_input["manual#0"]["authors"] == ["Jane Reporter"]
        kept = by_input[url("/feed.xml") + "#1"]
        assert kept["text_source"] == "feed" and kept["text"] == "Feed summary two."
        assert by_input["manual#1"] == no_link

    def rejects_ok(rejects):
        assert [(r["input"], r["stage"], r["error"]) for r in rejects] == [
            (url("/articles/missing.html"), "fetch", "http_error")
        ]

    with beam_pipeline() as pipeline:
        outputs = pipeline | beam.Create(articles + [undated, no_link]) | FetchArticlePages(LOCAL)
        assert_that(outputs["articles"], check(articles_ok), label="articles")
        assert_that(outputs["rejects"], check(rejects_ok), label="rejects")


def test_politeness_key_is_stable_and_bounded():
    keys = {politeness_key(f"https://example.com/feed{i}", 2) for i in range(50)}
    assert keys == {("example.com", 0), ("example.com", 1)}
    assert stable_hash("x") == stable_hash("x") == 0x2D711642B726B044


def test_feed_state_row_matches_table():
    from schemas.tables import FEED_STATE

    result = fetch("file:///etc/passwd", None, LOCAL)
    row = finalize_feed_state(feed_state_row("file:///etc/passwd", None, result), "run-1")
    assert sorted(row) == sorted(FEED_STATE.column_names)
    assert row["outcome"] == "failed" and row["error"] == "bad_scheme"
