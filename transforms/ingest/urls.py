"""URL canonicalisation for deduplication.

`canonical_url` maps the many spellings of one article URL (tracking
parameters, AMP and mobile hosts, default ports, fragments, trailing slashes,
parameter order, session ids) onto one string.  `preferred_url` picks the
publisher's own canonical URL (`<link rel=canonical>` / `og:url`) when it is
usable and falls back to the page URL.

Both are pure, never raise, and return None for anything that is not an
absolute http(s) URL with a host.  The output feeds `articles.article_id`, so
any change to the rules changes ids of new rows: bump `CANONICAL_URL_VERSION`
and document it when you do.
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

CANONICAL_URL_VERSION = 1

# http and https spellings of a URL are the same article: fold to https.
FOLD_SCHEME_TO_HTTPS = True

DEFAULT_PORTS = {"http": 80, "https": 443}

# Host prefixes that are alternative front-ends of the same site.
HOST_PREFIXES = ("www.", "m.", "amp.", "mobile.")

# Query parameters that never change the content (exact names, lower-case).
TRACKING_PARAMS = frozenset(
    {
        # ad / social click ids
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "ttclid",
        "li_fat_id",
        "wbraid",
        "gbraid",
        # campaign ids used by publishers
        "ocid",
        "cmpid",
        "cmp",
        "s_cid",
        "smid",
        "smtyp",
        "mbid",
        "ncid",
        "sr_share",
        "ito",
        "int_source",
        "int_medium",
        "int_campaign",
        "ref",
        "ref_src",
        "ref_url",
        "referrer",
        "referer",
        "share_id",
        "taid",
        "guccounter",
        "guce_referrer",
        "guce_referrer_sig",
        # mail tools
        "mc_cid",
        "mc_eid",
        "mkt_tok",
        "_hsenc",
        "_hsmi",
        "vero_id",
        "vero_conv",
        "oly_anon_id",
        "oly_enc_id",
        "rb_clickid",
        "s_kwcid",
        "trk",
        "trkcampaign",
        # analytics
        "_ga",
        "_gl",
        "_gac",
        "_openstat",
        "__twitter_impression",
        "at_medium",
        "at_campaign",
        "at_custom1",
        "at_custom2",
        "at_custom3",
        "at_custom4",
        # session ids
        "sid",
        "sessionid",
        "session_id",
        "jsessionid",
        "phpsessid",
        "aspsessionid",
        "cfid",
        "cftoken",
        "zenid",
        "oscsid",
        # AMP switches (the content is the same article)
        "amp",
        "outputtype",
        "amp_js_v",
        "usqp",
        "_amp",
        "amp_gsa",
        "amp_tf",
        # cache busters
        "_",
        "cb",
        "nocache",
        "rand",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "at_", "ga_", "aspsessionid")

# Path parameters (`;name=value`) of session ids.
_PATH_SESSION = re.compile(r";(?:jsessionid|sessionid|sid|phpsessid|aspsessionid\w*)=[^/;?#]*", re.IGNORECASE)

# Characters left unescaped in paths and queries (RFC 3986 unreserved and
# sub-delims that are safe to keep literal).
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_QUERY_SAFE = ":@!$'()*,;/?-._~"


def _is_tracking(name: str) -> bool:
    n = name.strip().lower()
    if n in TRACKING_PARAMS:
        return True
    return any(n.startswith(p) for p in TRACKING_PREFIXES)


def _clean_host(host: str) -> str | None:
    host = host.strip().rstrip(".").lower()
    if not host or " " in host or ".." in host:
        return None
    changed = True
    while changed:
        changed = False
        for prefix in HOST_PREFIXES:
            rest = host[len(prefix) :]
            # keep at least "name.tld": never turn "m.com" into "com"
            if host.startswith(prefix) and "." in rest:
                host, changed = rest, True
    return host


def _clean_path(path: str) -> str:
    path = _PATH_SESSION.sub("", path)
    # normalise percent-encoding: decode then re-encode with one safe set
    path = quote(unquote(path), safe=_PATH_SAFE)
    if not path.startswith("/"):
        path = "/" + path
    # remove dot segments and duplicate slashes
    trailing = path.endswith("/")
    path = posixpath.normpath(path)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    if trailing and path != "/":
        path += "/"
    # AMP variants: /amp/ segment, /amp suffix, .amp before the extension
    segments = [s for i, s in enumerate(path.split("/")) if not (i > 0 and s.lower() == "amp")]
    last = segments[-1] if segments else ""
    m = re.match(r"^(.*?)\.amp(\.html?)?$", last, re.IGNORECASE)
    if m and m.group(1):
        segments[-1] = m.group(1) + (m.group(2) or "")
    path = "/".join(segments) or "/"
    # trailing slash: none, except for the root
    path = path.rstrip("/") or "/"
    return path


def _clean_query(query: str) -> str:
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    kept = []
    for name, value in pairs:
        if not name or _is_tracking(name):
            continue
        kept.append((name, value))
    kept.sort()
    return urlencode(kept, quote_via=quote, safe=_QUERY_SAFE)


def canonical_url(url: str | None) -> str | None:
    """The canonical form of an absolute http(s) URL, or None.

    Never raises: anything that is not an absolute http(s) URL with a host
    (None, "", "mailto:..", "javascript:..", relative paths, garbage) gives None.
    """
    try:
        return _canonical_url(url)
    except Exception:  # noqa: BLE001 - junk in, None out, by contract
        return None


def _canonical_url(url):
    if not isinstance(url, str):
        return None
    # control characters are dropped (browsers do the same), inner spaces
    # escaped
    url = re.sub(r"[\x00-\x1f\x7f]", "", url).strip().replace(" ", "%20")
    if not url:
        return None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        return None
    host = parts.hostname  # lower-cased, userinfo and port stripped
    if not host:
        return None
    host = _clean_host(host)
    if not host or not re.fullmatch(r"[\w.\-\[\]:]+", host):
        return None
    port = parts.port  # ValueError on junk ports -> None via canonical_url
    if FOLD_SCHEME_TO_HTTPS:
        if port == DEFAULT_PORTS[scheme]:
            port = None
        scheme = "https"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = _clean_path(parts.path)
    query = _clean_query(parts.query)
    return urlunsplit((scheme, netloc, path, query, ""))


def url_error(url: str) -> str | None:
    """Why urllib cannot take `url` apart, or None. Such URLs (an unclosed IPv6
    bracket "http://[::1", a port that is no number, NFKC tricks in the host) make
    urlsplit or .port raise ValueError; callers turn this into a reject instead."""
    try:
        urlsplit(url).port  # noqa: B018 - .port raises on a bad port
    except ValueError as exc:
        return str(exc) or "ValueError"
    return None


def url_host(url: str | None) -> str | None:
    """The lower-cased host of a URL, or None (no host, not a string, unparseable)."""
    if not isinstance(url, str) or url_error(url):
        return None
    return urlsplit(url).hostname


def is_absolute_http(url: str | None) -> bool:
    """An http(s) URL with a host that urllib can take apart (port included)."""
    if not isinstance(url, str) or url_error(url.strip()):
        return False
    parts = urlsplit(url.strip())
    return parts.scheme.lower() in DEFAULT_PORTS and bool(parts.hostname)


def preferred_url(page_url: str | None, canonical_link: str | None = None, og_url: str | None = None) -> str | None:
    """Canonical form of the URL that best names the article.

    `<link rel=canonical>` wins, then `og:url`, then the page URL.  Relative
    links are resolved against the page URL.  A declared URL is ignored when
    it is unusable (not http(s), no host) or when it points at a site's home
    page while the page itself has a path (a common CMS template bug that
    would merge every article of the site).
    """
    page = canonical_url(page_url)
    for declared in (canonical_link, og_url):
        try:
            if not isinstance(declared, str) or not declared.strip():
                continue
            declared = declared.strip()
            if not is_absolute_http(declared):
                if not page_url or not is_absolute_http(page_url):
                    continue
                declared = urljoin(page_url.strip(), declared)
            cand = canonical_url(declared)
            if cand is None:
                continue
            if page is not None and urlsplit(cand).path == "/" and urlsplit(page).path != "/":
                continue
            return cand
        except ValueError:  # urljoin of a relative link with a bad host (`//[x`): not usable, try the next
            continue
    return page
