"""A careful HTTP GET: SSRF-checked, size-capped, time-capped, redirect- and retry-aware. Never raises.

Why the stdlib and not `requests`: to stop DNS rebinding the host is resolved
once, every address is checked, and the connection goes to the checked IP (TLS
still verifies the certificate against the host name). http.client lets us pin
the socket; requests/urllib3 would resolve again on their own.

Time limits: a socket timeout bounds one recv, but http.client reads a header
line or a body chunk with as many recvs as it takes, so a server sending a byte
a second is never "timed out". Every recv therefore goes through
`DeadlineReader`, which also stops at a wall-clock deadline per attempt
(`total_timeout`), and retries stop at a deadline for the whole fetch
(`fetch_budget`). Name resolution (getaddrinfo) has no timeout of its own: it is
bounded by the system resolver's settings, and the deadline is checked right after.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import io
import ipaddress
import logging
import socket
import ssl
import time
import zlib
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from urllib.parse import quote, urljoin, urlsplit

NEWSBEAM_VERSION = "0.1.0"
USER_AGENT = f"newsbeam/{NEWSBEAM_VERSION} (+https://github.com/newsbeam)"

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# "deadline" is not retried: the server was answering, only too slowly, and would
# most likely be as slow again.
RETRYABLE_ERRORS = frozenset({"timeout", "connection_failed"})
CHUNK_SIZE = 64 * 1024

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FetchConfig:
    """Fetch and politeness settings. Frozen and plain so Beam DoFns can pickle it."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0  # longest wait for any one read
    # Wall clock for one attempt: resolve, connect, headers, body, every redirect hop.
    # None: 2 x read_timeout. Hitting it is error "deadline" (not retried).
    total_timeout: float | None = None
    # Wall clock for the whole fetch: every attempt and every wait between them; no
    # retry starts whose wait would end past it. None: 2 x the attempt's total timeout.
    fetch_budget: float | None = None
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    max_attempts: int = 3  # first try + retries, for timeouts, 5xx and 429
    backoff_seconds: float = 1.0  # doubled after each failed attempt
    max_retry_after: float = 60.0  # a longer Retry-After gives up instead of waiting
    allow_private_hosts: bool = False
    trusted_hosts: tuple = ()  # host names exempt from the address check (internal mirrors)
    per_host_limit: int = 2  # concurrent requests per host (Beam grouping)
    per_host_delay: float = 0.5  # pause between sequential requests to one host
    user_agent: str = USER_AGENT


@dataclass
class FetchResult:
    url: str
    status: int | None = None  # last HTTP status (304 = not modified)
    final_url: str | None = None  # after redirects
    body: bytes | None = None  # decoded body of a 200, else None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None  # sha256 hex of body
    content_type: str | None = None
    error: str | None = None  # short code, None on success / 304
    detail: str | None = None
    attempts: int = 0
    changed: bool = False  # body present and its hash differs from the stored one
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

    def __init__(self, code: str, detail: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(detail)
        self.code, self.detail, self.status, self.retry_after = code, detail, status, retry_after


# --- time limits -----------------------------------------------------------------


def attempt_seconds(config: FetchConfig) -> float:
    """The wall-clock limit of one attempt (FetchConfig.total_timeout)."""
    return config.total_timeout if config.total_timeout is not None else 2 * config.read_timeout


def budget_seconds(config: FetchConfig) -> float:
    """The wall-clock limit of a whole fetch, retries included (FetchConfig.fetch_budget)."""
    return config.fetch_budget if config.fetch_budget is not None else 2 * attempt_seconds(config)


@dataclass(frozen=True)
class Deadline:
    """A point on the time.monotonic() clock and what it stands for (for the error detail)."""

    at: float
    name: str

    def remaining(self) -> float:
        """Seconds left; raises FetchError("deadline") when there are none."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise FetchError("deadline", f"no complete response within {self.name}")
        return left

    def timeout(self, limit: float) -> float:
        """A socket timeout: `limit`, cut to the time left."""
        return min(limit, self.remaining())


def attempt_deadline(config: FetchConfig, budget: Deadline) -> Deadline:
    seconds = attempt_seconds(config)
    mine = Deadline(time.monotonic() + seconds, f"total_timeout {seconds:g}s")
    return mine if mine.at <= budget.at else budget


class DeadlineReader(io.RawIOBase):
    """A socket's raw stream whose every recv waits at most read_timeout and never
    past the deadline (see the module docstring for why a socket timeout is not enough)."""

    def __init__(self, sock, read_timeout: float, deadline: Deadline):
        super().__init__()
        self.sock, self.read_timeout, self.deadline = sock, read_timeout, deadline
        # The socket's own unbuffered stream: it keeps the socket open after
        # http.client closes the connection ("Connection: close"), as makefile does.
        self.raw = sock.makefile("rb", buffering=0)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self.sock.settimeout(self.deadline.timeout(self.read_timeout))
        try:
            return self.raw.readinto(buffer)
        except TimeoutError:
            self.deadline.remaining()  # raises "deadline" when that is what ran out
            raise

    def close(self) -> None:
        self.raw.close()
        super().close()


class DeadlineSocket:
    """The one thing http.client.HTTPResponse asks of its socket: makefile("rb")."""

    def __init__(self, sock, read_timeout: float, deadline: Deadline):
        self.sock, self.read_timeout, self.deadline = sock, read_timeout, deadline

    def makefile(self, mode="rb"):
        return io.BufferedReader(DeadlineReader(self.sock, self.read_timeout, self.deadline))


# --- address checks -----------------------------------------------------------

# IPv6 forms that carry an IPv4 address the packets end up at (besides ::ffff:0:0/96
# IPv4-mapped, ::/96 IPv4-compatible, 2002::/16 6to4 and 2001::/32 Teredo, which
# ipaddress decodes). Local-use NAT64 prefixes are assumed to be /96s (RFC 6052's
# common form: the IPv4 address in the last 32 bits).
NAT64_PREFIXES = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")  # deprecated, still routed inside some networks


def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, list] | None:
    """(form, [IPv4 addresses]) for an IPv6 address that embeds IPv4 ones, else None."""
    if address.ipv4_mapped is not None:
        return "ipv4-mapped", [address.ipv4_mapped]
    if any(address in prefix for prefix in NAT64_PREFIXES):
        return "nat64", [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address.sixtofour is not None:
        return "6to4", [address.sixtofour]
    if address.teredo is not None:
        server, client = address.teredo  # client: the last 32 bits inverted, decoded by ipaddress
        return "teredo", [server, client]
    if int(address) >> 32 == 0 and int(address) > 1:  # ::a.b.c.d; :: and ::1 are themselves
        return "ipv4-compatible", [ipaddress.IPv4Address(int(address))]
    return None


# Forms judged by their IPv4 address alone: ipaddress calls the NAT64 prefixes
# reserved and Teredo private, which would refuse every public host behind them.
TRANSLATED_FORMS = frozenset({"ipv4-mapped", "nat64", "6to4", "teredo"})


def range_block_reason(address) -> str | None:
    """Why an address's own range is off limits, or None."""
    if address.version == 6 and address in SITE_LOCAL:
        return "site-local"
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if not address.is_global:
        return "non-global"
    return None


def address_block_reason(ip: str) -> str | None:
    """Why an address is off limits for a public fetcher, or None. An IPv6 address
    that embeds an IPv4 address is refused when that IPv4 address would be."""
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    embedded = embedded_ipv4(address) if address.version == 6 else None
    if embedded is None:
        return range_block_reason(address)
    form, ipv4s = embedded
    for ipv4 in ipv4s:
        reason = range_block_reason(ipv4)
        if reason:
            return f"{reason} ({form} {ipv4})"
    return None if form in TRANSLATED_FORMS else range_block_reason(address)


def resolve_checked(host: str, port: int, allow_private: bool) -> list[str]:
    """Resolve once, refuse if any address is internal, return the addresses to connect to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise FetchError("unresolvable", f"cannot resolve {host!r}: {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))  # AF_INET/AF_INET6: a str already
    if not addresses:
        raise FetchError("unresolvable", f"no address for {host!r}")
    if not allow_private:
        for ip in addresses:
            reason = address_block_reason(ip)
            if reason:
                raise FetchError(
                    "blocked_host",
                    f"{host!r} resolves to {reason} address {ip}; refused "
                    "(use --allow-private-hosts to fetch internal hosts)",
                )
    return addresses


# --- connections pinned to the checked address --------------------------------


def connect_first(addresses, port, timeout, deadline: Deadline):
    """A socket to the first checked address that answers (e.g. ::1 then 127.0.0.1)."""
    last_error = OSError("no address to connect to")
    for ip in addresses:
        try:
            return socket.create_connection((ip, port), deadline.timeout(timeout))
        except OSError as exc:
            last_error = exc
    raise last_error


class DeadlineMixin:
    """Connect within the connect timeout and read every response through DeadlineReader."""

    def setup_limits(self, addresses, config: FetchConfig, deadline: Deadline):
        self.addresses, self.deadline = addresses, deadline
        self.connect_timeout, self.read_timeout = config.connect_timeout, config.read_timeout

    def response_class(self, sock, *args, **kwargs):
        return http.client.HTTPResponse(DeadlineSocket(sock, self.read_timeout, self.deadline), *args, **kwargs)


# response_class is a factory method here, called the way http.client calls the class.
class PinnedHTTPConnection(DeadlineMixin, http.client.HTTPConnection):  # type: ignore[misc]  # response_class, see above
    def __init__(self, host, port, addresses, config, deadline):
        super().__init__(host, port, timeout=config.connect_timeout)
        self.setup_limits(addresses, config, deadline)

    def connect(self):
        self.sock = connect_first(self.addresses, self.port, self.connect_timeout, self.deadline)
        self.sock.settimeout(self.deadline.timeout(self.read_timeout))  # for sending the request


class PinnedHTTPSConnection(DeadlineMixin, http.client.HTTPSConnection):  # type: ignore[misc]  # response_class, as above
    def __init__(self, host, port, addresses, config, deadline):
        super().__init__(host, port, timeout=config.connect_timeout, context=ssl.create_default_context())
        self.setup_limits(addresses, config, deadline)

    def connect(self):
        raw = connect_first(self.addresses, self.port, self.connect_timeout, self.deadline)
        raw.settimeout(self.deadline.timeout(self.read_timeout))  # bounds the whole handshake
        # Certificate and SNI are checked against the host name, not the IP.
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)
        self.sock.settimeout(self.deadline.timeout(self.read_timeout))


def open_connection(scheme, host, port, config, deadline: Deadline):
    allow = config.allow_private_hosts or host.lower() in config.trusted_hosts
    addresses = resolve_checked(host, port, allow)
    deadline.remaining()  # resolving has no timeout of its own
    cls = PinnedHTTPSConnection if scheme == "https" else PinnedHTTPConnection
    return cls(host, port, addresses, config, deadline)


# --- reading responses ----------------------------------------------------------


def read_capped(response, max_bytes: int) -> bytes:
    declared = response.getheader("Content-Length")
    if declared and declared.strip().isdigit() and int(declared) > max_bytes:
        raise FetchError("too_large", f"Content-Length {declared} exceeds {max_bytes} bytes")
    chunks: list[bytes] = []
    total = 0
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
        wbits_options: tuple[int, ...] = (16 + zlib.MAX_WBITS,)
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

# Printable ASCII but space: what may stand in a request line as it is.
REQUEST_TARGET_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))


def split_checked_url(url: str):
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError("bad_url", f"{url[:200]!r}: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError("bad_scheme", f"only http and https are fetched, not {url[:200]!r}")
    if not parts.hostname:
        raise FetchError("bad_url", f"no host in {url[:200]!r}")
    scheme = parts.scheme.lower()
    port = port or (443 if scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    # Feeds link to IRIs ("/straße"): send them percent-encoded as browsers do, not
    # as an error from http.client; existing %-escapes are kept.
    return scheme, parts.hostname, port, quote(path, safe=REQUEST_TARGET_SAFE)


def request_headers(config: FetchConfig, accept: str, etag: str | None, last_modified: str | None) -> dict:
    headers = {
        "User-Agent": config.user_agent,
        "Accept": accept,
        "Accept-Encoding": "gzip, deflate",
        "Connection": "close",
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def redirect_target(current: str, location: str) -> str:
    try:
        return urljoin(current, location.strip())
    except ValueError as exc:
        raise FetchError("bad_url", f"redirect to {location[:200]!r}: {exc}") from None


def get_once(url: str, headers: dict, config: FetchConfig, result: FetchResult, deadline: Deadline) -> None:
    """One GET, following up to max_redirects hops, each hop checked, all before
    `deadline`. Fills `result`."""
    current = url
    for _hop in range(config.max_redirects + 1):
        scheme, host, port, path = split_checked_url(current)
        connection = open_connection(scheme, host, port, config, deadline)
        response = None
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            location = response.getheader("Location")
            if response.status in REDIRECT_STATUSES and location:
                current = redirect_target(current, location)
                continue
            store_response(response, current, config, result)
            return
        finally:
            if response is not None:
                response.close()  # the response holds the socket open after connection.close()
            connection.close()
    raise FetchError("too_many_redirects", f"more than {config.max_redirects} redirects (last: {current[:200]})")


def store_response(response, url: str, config: FetchConfig, result: FetchResult) -> None:
    result.status, result.final_url = response.status, url
    result.etag = response.getheader("ETag") or result.etag
    result.last_modified = response.getheader("Last-Modified") or result.last_modified
    result.content_type = response.getheader("Content-Type")
    if response.status == 304:
        return
    if response.status != 200:
        retry_after = parse_retry_after(response.getheader("Retry-After"))
        raise FetchError(
            "http_error",
            f"HTTP {response.status} {response.reason}".strip(),
            status=response.status,
            retry_after=retry_after,
        )
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
    if isinstance(exc, http.client.InvalidURL):  # e.g. a control character in the URL
        return FetchError("bad_url", f"{type(exc).__name__}: {exc}")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return FetchError("timeout", f"timed out: {exc}")
    if isinstance(exc, ssl.SSLError):
        return FetchError("tls_error", f"{type(exc).__name__}: {exc}")
    if isinstance(exc, (ConnectionError, OSError, http.client.HTTPException)):
        return FetchError("connection_failed", f"{type(exc).__name__}: {exc}")
    return FetchError("fetch_failed", f"{type(exc).__name__}: {exc}")


def fetch(
    url: str, state: dict | None = None, config: FetchConfig = FetchConfig(), accept: str = FEED_ACCEPT
) -> FetchResult:
    """GET `url` politely and safely. `state` is a FEED_STATE-like dict (etag,
    last_modified, body_hash) from the previous run, or None. Never raises.

    At most max_attempts attempts of at most total_timeout each, and never more than
    fetch_budget in all (name resolution aside: see the module docstring)."""
    state = state or {}
    headers = request_headers(config, accept, state.get("etag"), state.get("last_modified"))
    seconds = budget_seconds(config)
    budget = Deadline(time.monotonic() + seconds, f"fetch_budget {seconds:g}s")
    result = FetchResult(url=url)
    for attempt in range(1, config.max_attempts + 1):
        result = FetchResult(url=url, attempts=attempt)
        try:
            get_once(url, headers, config, result, attempt_deadline(config, budget))
        except Exception as exc:  # noqa: BLE001 - every failure becomes an error code
            error = classify_exception(exc)
            result.error, result.detail = error.code, error.detail
            result.status = error.status or result.status
            result.body = result.body_hash = None
            delay = retry_delay(error, attempt, config)
            if delay is None:
                break
            if time.monotonic() + delay >= budget.at:
                result.detail = f"{error.detail} (not retried: fetch_budget {seconds:g}s spent)"
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
