import pytest

from transforms.ingest.urls import canonical_url, is_absolute_http, preferred_url, url_error, url_host

BASE = "https://example.com/news/story-1"


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "   ",
        "mailto:a@b.c",
        "javascript:alert(1)",
        "ftp://example.com/x",
        "/relative/path",
        "example.com/no-scheme",
        "https://",
        "http:///path",
        "https://exa mple..com/x",
        "https://example.com:99999/x",
        "https://example.com:abc/",
        12345,
        b"https://example.com/",
        "data:text/html,hi",
    ],
)
def test_junk_gives_none_and_never_raises(url):
    assert canonical_url(url) is None


def test_scheme_and_host_lower_cased_and_https_folded():
    assert canonical_url("HTTP://Example.COM/News/Story-1") == "https://example.com/News/Story-1"
    assert canonical_url("https://EXAMPLE.com/news/story-1") == BASE


@pytest.mark.parametrize("prefix", ["www.", "m.", "amp.", "mobile.", "www.m."])
def test_host_prefixes_folded(prefix):
    assert canonical_url(f"https://{prefix}example.com/news/story-1") == BASE


def test_host_prefix_not_folded_into_bare_tld():
    assert canonical_url("https://m.com/x") == "https://m.com/x"
    assert canonical_url("https://www.com/x") == "https://www.com/x"


def test_trailing_dot_in_host():
    assert canonical_url("https://example.com./news/story-1") == BASE


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/amp/news/story-1",
        "https://example.com/news/amp/story-1",
        "https://example.com/news/story-1/amp",
        "https://example.com/news/story-1/amp/",
        "https://example.com/news/story-1.amp",
        "https://example.com/news/story-1?amp",
        "https://example.com/news/story-1?amp=1",
        "https://example.com/news/story-1?outputType=amp",
        "https://amp.example.com/news/story-1",
    ],
)
def test_amp_variants_folded(url):
    assert canonical_url(url) == BASE


def test_amp_html_extension():
    assert canonical_url("https://example.com/a/story.amp.html") == "https://example.com/a/story.html"


def test_amp_inside_a_word_is_kept():
    assert canonical_url("https://example.com/news/campaign") == "https://example.com/news/campaign"
    assert canonical_url("https://example.com/news/amp-stock-rises") == "https://example.com/news/amp-stock-rises"


@pytest.mark.parametrize(
    "url,want",
    [
        ("http://example.com:80/news/story-1", BASE),
        ("https://example.com:443/news/story-1", BASE),
        ("https://example.com:8443/news/story-1", "https://example.com:8443/news/story-1"),
    ],
)
def test_default_ports_dropped(url, want):
    assert canonical_url(url) == want


def test_fragment_dropped():
    assert canonical_url(BASE + "#comments") == BASE
    assert canonical_url(BASE + "#!/x") == BASE


def test_userinfo_dropped():
    assert canonical_url("https://user:pw@example.com/news/story-1") == BASE


@pytest.mark.parametrize(
    "param",
    [
        "utm_source=twitter",
        "utm_medium=social&utm_campaign=x",
        "UTM_Content=a",
        "fbclid=IwAR0abc",
        "gclid=abc",
        "ocid=msn",
        "cmpid=rss",
        "ref=homepage",
        "mc_cid=1&mc_eid=2",
        "igshid=xyz",
        "_ga=2.1.2.3",
        "sid=abc123",
        "sessionid=123",
        "jsessionid=ABC",
        "PHPSESSID=1",
        "msclkid=1",
        "smid=tw-share",
    ],
)
def test_tracking_and_session_params_dropped(param):
    assert canonical_url(f"{BASE}?{param}") == BASE


def test_remaining_query_sorted_and_kept():
    assert canonical_url(f"{BASE}?b=2&utm_source=x&a=1") == f"{BASE}?a=1&b=2"
    assert canonical_url(f"{BASE}?id=5&page=2") == canonical_url(f"{BASE}?page=2&id=5")


def test_empty_query_dropped():
    assert canonical_url(BASE + "?") == BASE


def test_jsessionid_path_parameter_dropped():
    assert canonical_url("https://example.com/news/story-1;jsessionid=0A1B2C3D") == BASE
    assert canonical_url("https://example.com/news;JSESSIONID=x/story-1?utm_source=a") == BASE


def test_trailing_slash_normalised():
    assert canonical_url(BASE + "/") == BASE
    assert canonical_url("https://example.com") == "https://example.com/"
    assert canonical_url("https://example.com/") == "https://example.com/"


def test_dot_segments_and_double_slashes():
    assert canonical_url("https://example.com/news/./x/../story-1") == BASE
    assert canonical_url("https://example.com//news//story-1") == BASE


def test_percent_encoding_normalised():
    assert canonical_url("https://example.com/news/%73tory-1") == BASE
    assert canonical_url("https://example.com/a b") == canonical_url("https://example.com/a%20b")


def test_surrounding_whitespace_and_control_chars():
    assert canonical_url("  https://example.com/news/story-1\n") == BASE


def test_idempotent():
    for url in [
        "http://www.Example.com:80/a/amp/?b=1&utm_source=x&a=2#f",
        "https://m.example.com/x;jsessionid=1?z=1&y=2",
    ]:
        once = canonical_url(url)
        assert canonical_url(once) == once


# --- preferred_url --------------------------------------------------------

PAGE = "https://m.example.com/news/story-1?utm_source=rss"


def test_preferred_falls_back_to_page():
    assert preferred_url(PAGE) == BASE
    assert preferred_url(PAGE, None, None) == BASE
    assert preferred_url(None) is None


def test_canonical_link_wins_over_og_and_page():
    assert preferred_url(PAGE, "https://publisher.org/story", "https://og.example/x") == "https://publisher.org/story"


def test_og_url_used_without_canonical_link():
    assert preferred_url(PAGE, None, "https://og.example/x") == "https://og.example/x"
    assert preferred_url(PAGE, "", "https://og.example/x") == "https://og.example/x"


def test_relative_canonical_resolved_against_page():
    assert preferred_url(PAGE, "/news/story-1-full") == "https://example.com/news/story-1-full"
    assert preferred_url("https://example.com/a/b", "c") == "https://example.com/a/c"


def test_invalid_declared_urls_ignored():
    assert preferred_url(PAGE, "javascript:void(0)", "mailto:x@y") == BASE


def test_relative_declared_url_that_cannot_be_joined_is_skipped():
    # urljoin raises ValueError on a bad IPv6 host: the next candidate is used.
    assert preferred_url(PAGE, "//[not-ipv6", "https://og.example/x") == "https://og.example/x"
    assert preferred_url(PAGE, "//[not-ipv6") == BASE
    assert preferred_url(PAGE, "https://", None) == BASE
    assert preferred_url(None, "/relative-without-page") is None


def test_declared_home_page_ignored_for_article_page():
    assert preferred_url(PAGE, "https://example.com/") == BASE
    assert preferred_url("https://example.com/", "https://www.example.com") == "https://example.com/"


def test_declared_url_is_canonicalised():
    assert preferred_url(PAGE, "http://www.publisher.org/story/?utm_medium=x#top") == "https://publisher.org/story"


# --- URLs urllib cannot take apart ------------------------------------------------

UNPARSEABLE = [
    "http://[::1",
    "https://[::1/x",
    "http://[example]/x",
    "http://ex\uff0fample.com/",
    "https://example.com:port/",
    "https://example.com:99999/",
]


@pytest.mark.parametrize("url", UNPARSEABLE)
def test_unparseable_urls_are_none_everywhere(url):
    assert url_error(url) and url_host(url) is None
    assert canonical_url(url) is None and preferred_url(url) is None
    assert preferred_url(url, url, url) is None
    assert preferred_url(PAGE, url, url) == BASE  # a broken declared URL is ignored
    assert preferred_url(url, "/relative") is None
    assert is_absolute_http(url) is False


@pytest.mark.parametrize(
    "url, host",
    [
        ("https://Example.com:8080/x", "example.com"),
        ("http://[::1]/x", "::1"),
        ("mailto:a@b.c", None),
        ("/relative", None),
        (None, None),
        (42, None),
    ],
)
def test_url_host_and_parseable_urls(url, host):
    assert url_host(url) == host
    if isinstance(url, str):
        assert url_error(url) is None
