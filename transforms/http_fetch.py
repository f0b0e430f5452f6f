"""A careful HTTP GET: SSRF-checked, size-capped, redirect- and retry-aware. Never raises.

Why the stdlib and not `requests`: to stop DNS rebinding the host is resolved
once, every address is checked, and the connection goes to the checked IP (TLS
still verifies the certificate against the host name). http.client lets us pin
the socket; requests/urllib3 would resolve again on their own.
"""
from __future__ import annotations

import email.utils
import hashlib
import http.client
import ipaddress
import logging
import socket
import ssl
import time
import zlib
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit

NEWSBEAM_VERSION = "0.1.0"
USER_AGENT = f"newsbeam/{NEWSBEAM_VERSION} (+https://github.com/newsbeam)"

FEED_ACCEPT = ("application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
               "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5")
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRYABLE_ERRORS = frozenset({"timeout", "connection_failed"})
CHUNK_SIZE = 64 * 1024

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FetchConfig:
    """Fetch and politeness settings. Frozen and plain so Beam DoFns can pickle it."""
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    max_attempts: int = 3            # first try + retries, for timeouts, 5xx and 429
    backoff_seconds: float = 1.0     # doubled after each failed attempt
    max_retry_after: float = 60.0    # a longer Retry-After gives up instead of waiting
    allow_private_hosts: bool = False
    trusted_hosts: tuple = ()        # host names exempt from the address check (internal mirrors)
    per_host_limit: int = 2          # concurrent requests per host (Beam grouping)
    per_host_delay: float = 0.5      # pause between sequential requests to one host
    user_agent: str = USER_AGENT


@dataclass
class FetchResult:
    url: str
    status: int | None = None          # last HTTP status (304 = not modified)
    final_url: str | None = None       # after redirects
    body: bytes | None = None          # decoded body of a 200, else None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None       # sha256 hex of body
    content_type: str | None = None
    error: str | None = None           # short code, None on success / 304
    detail: str | None = None
    attempts: int = 0
    changed: bool = False              # body present and its hash differs from the stored one
    fetched_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def not_modified(self) -> bool:
        return self.error is None and not self.changed

    def as_dict(self) -> dict:
        return asdict(self)


class FetchError(Exception):
    """Internal: carries an error code to the top of `fetch`; never escapes it."""

    def __init__(self, code: str, detail: str, status: int | None = None,
                 retry_after: float | None = None):
        super().__init__(detail)
        self.code, self.detail, self.status, self.retry_after = code, detail, status, retry_after


# --- address checks -----------------------------------------------------------

def address_block_reason(ip: str) -> str | None:
    """Why an address is off limits for a public fetcher, or None."""
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if not address.is_global:
        return "non-global"
    return None


def resolve_checked(host: str, port: int, allow_private: bool) -> list[str]:
    """Resolve once, refuse if any address is internal, return the addresses to connect to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise FetchError("unresolvable", f"cannot resolve {host!r}: {exc}") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise FetchError("unresolvable", f"no address for {host!r}")
    if not allow_private:
        for ip in addresses:
            reason = address_block_reason(ip)
            if reason:
                raise FetchError(
                    "blocked_host",
                    f"{host!r} resolves to {reason} address {ip}; refused "
                    "(use --allow-private-hosts to fetch internal hosts)")
    return addresses


# --- connections pinned to the checked address --------------------------------

def connect_first(addresses, port, timeout):
    """A socket to the first checked address that answers (e.g. ::1 then 127.0.0.1)."""
    last_error = None
    for ip in addresses:
        try:
            return socket.create_connection((ip, port), timeout)
        except OSError as exc:
            last_error = exc
    raise last_error


class PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host, port, addresses, connect_timeout, read_timeout):
        super().__init__(host, port, timeout=connect_timeout)
        self.addresses, self.read_timeout = addresses, read_timeout

    def connect(self):
        self.sock = connect_first(self.addresses, self.port, self.timeout)
        self.sock.settimeout(self.read_timeout)


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, addresses, connect_timeout, read_timeout):
        super().__init__(host, port, timeout=connect_timeout, context=ssl.create_default_context())
        self.addresses, self.read_timeout = addresses, read_timeout

    def connect(self):
        raw = connect_first(self.addresses, self.port, self.timeout)
        # Certificate and SNI are checked against the host name, not the IP.
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)
        self.sock.settimeout(self.read_timeout)


def open_connection(scheme, host, port, config):
    allow = config.allow_private_hosts or host.lower() in config.trusted_hosts
    addresses = resolve_checked(host, port, allow)
    cls = PinnedHTTPSConnection if scheme == "https" else PinnedHTTPConnection
    return cls(host, port, addresses, config.connect_timeout, config.read_timeout)


# --- reading responses ----------------------------------------------------------

def read_capped(response, max_bytes: int) -> bytes:
    declared = response.getheader("Content-Length")
    if declared and declared.strip().isdigit() and int(declared) > max_bytes:
        raise FetchError("too_large", f"Content-Length {declared} exceeds {max_bytes} bytes")
    chunks, total = [], 0
    while True:
        chunk = response.read(CHUNK_SIZE)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise FetchError("too_large", f"body exceeds {max_bytes} bytes")
        chunks.append(chunk)


def decompress_capped(body: bytes, encoding: str | None, max_bytes: int) -> bytes:
    """Undo gzip/deflate without letting a compression bomb past the size cap."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        wbits_options = (16 + zlib.MAX_WBITS,)
    elif encoding == "deflate":
        wbits_options = (zlib.MAX_WBITS, -zlib.MAX_WBITS)  # zlib-wrapped or raw, both seen
    else:
        raise FetchError("bad_encoding", f"unsupported Content-Encoding {encoding!r}")
    last_error = None
    for wbits in wbits_options:
        decompressor = zlib.decompressobj(wbits)
        try:
            out = decompressor.decompress(body, max_bytes + 1)
        except zlib.error as exc:
            last_error = exc
            continue
        if len(out) > max_bytes or decompressor.unconsumed_tail:
            raise FetchError("too_large", f"decompressed body exceeds {max_bytes} bytes")
        return out
    raise FetchError("bad_encoding", f"cannot decode {encoding} body: {last_error}")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


# --- one request, one redirect chain --------------------------------------------

def split_checked_url(url: str):
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError("bad_url", f"{url!r}: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError("bad_scheme", f"only http and https are fetched, not {url[:200]!r}")
    if not parts.hostname:
        raise FetchError("bad_url", f"no host in {url[:200]!r}")
    scheme = parts.scheme.lower()
    port = port or (443 if scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, parts.hostname, port, path


def request_headers(config: FetchConfig, accept: str, etag: str | None,
                    last_modified: str | None) -> dict:
    headers = {"User-Agent": config.user_agent, "Accept": accept,
               "Accept-Encoding": "gzip, deflate", "Connection": "close"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def get_once(url: str, headers: dict, config: FetchConfig, result: FetchResult) -> None:
    """One GET, following up to max_redirects hops, each hop checked. Fills `result`."""
    current = url
    for hop in range(config.max_redirects + 1):
        scheme, host, port, path = split_checked_url(current)
        connection = open_connection(scheme, host, port, config)
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            location = response.getheader("Location")
            if response.status in REDIRECT_STATUSES and location:
                current = urljoin(current, location.strip())
                continue
            store_response(response, current, config, result)
            return
        finally:
            connection.close()
    raise FetchError("too_many_redirects",
                     f"more than {config.max_redirects} redirects (last: {current[:200]})")


def store_response(response, url: str, config: FetchConfig, result: FetchResult) -> None:
    result.status, result.final_url = response.status, url
    result.etag = response.getheader("ETag") or result.etag
    result.last_modified = response.getheader("Last-Modified") or result.last_modified
    result.content_type = response.getheader("Content-Type")
    if response.status == 304:
        return
    if response.status != 200:
        retry_after = parse_retry_after(response.getheader("Retry-After"))
        raise FetchError("http_error", f"HTTP {response.status} {response.reason}".strip(),
                         status=response.status, retry_after=retry_after)
    raw = read_capped(response, config.max_bytes)
    result.body = decompress_capped(raw, response.getheader("Content-Encoding"), config.max_bytes)
    result.body_hash = hashlib.sha256(result.body).hexdigest()


# --- retries -------------------------------------------------------------------

def is_retryable(error: FetchError) -> bool:
    if error.code in RETRYABLE_ERRORS:
        return True
    return error.code == "http_error" and (error.status == 429 or (error.status or 0) >= 500)


def retry_delay(error: FetchError, attempt: int, config: FetchConfig) -> float | None:
    """Seconds to wait before the next attempt, or None to give up."""
    if attempt >= config.max_attempts or not is_retryable(error):
        return None
    if error.retry_after is not None:
        return error.retry_after if error.retry_after <= config.max_retry_after else None
    return config.backoff_seconds * (2 ** (attempt - 1))


def classify_exception(exc: Exception) -> FetchError:
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return FetchError("timeout", f"timed out: {exc}")
    if isinstance(exc, ssl.SSLError):
        return FetchError("tls_error", f"{type(exc).__name__}: {exc}")
    if isinstance(exc, (ConnectionError, OSError, http.client.HTTPException)):
        return FetchError("connection_failed", f"{type(exc).__name__}: {exc}")
    return FetchError("fetch_failed", f"{type(exc).__name__}: {exc}")


def fetch(url: str, state: dict | None = None, config: FetchConfig = FetchConfig(),
          accept: str = FEED_ACCEPT) -> FetchResult:
    """GET `url` politely and safely. `state` is a FEED_STATE-like dict (etag,
    last_modified, body_hash) from the previous run, or None. Never raises."""
    state = state or {}
    headers = request_headers(config, accept, state.get("etag"), state.get("last_modified"))
    result = FetchResult(url=url)
    for attempt in range(1, config.max_attempts + 1):
        result = FetchResult(url=url, attempts=attempt)
        try:
            get_once(url, headers, config, result)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an error code
            error = classify_exception(exc)
            result.error, result.detail = error.code, error.detail
            result.status = error.status or result.status
            result.body = result.body_hash = None
            delay = retry_delay(error, attempt, config)
            if delay is None:
                break
            log.info("retrying %s in %.1fs after %s", url, delay, error.detail)
            time.sleep(delay)
            continue
        break
    result.fetched_at = datetime.now(timezone.utc)
    result.changed = result.body is not None and result.body_hash != state.get("body_hash")
    return result


def with_overrides(config: FetchConfig, **changes) -> FetchConfig:
    """A copy of config with some settings changed (for CLI options and tests)."""
    return replace(config, **changes)
