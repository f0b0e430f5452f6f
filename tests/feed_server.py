"""A real threaded HTTP server on 127.0.0.1 for feed and fetch tests.

Routes map a path to a handler `handler(request) -> Response`; `request` has
`.path`, `.query` and `.headers` (a dict with lower-case names). The server
records every request so tests can check what the fetcher sent.

    with FeedServer() as server:
        install_standard_routes(server)
        fetch(server.url("/feed.xml"), config=...)

`feed_server` is a pytest fixture giving a started server with the standard routes.
"""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest


@dataclass
class Response:
    status: int = 200
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds to sleep before answering
    send_length: bool = True  # False: no Content-Length, body ends at connection close
    drip: float = 0.0  # > 0: send the body one byte at a time, this many seconds apart
    drip_headers: int = 0  # send this many filler headers first, one per `header_interval` s
    header_interval: float = 0.0


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict


class RouteHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection, body may end at close

    def do_GET(self):
        parts = urlsplit(self.path)
        request = Request("GET", parts.path, parts.query, {k.lower(): v for k, v in self.headers.items()})
        self.server.owner.record(request)
        handler = self.server.owner.routes.get(parts.path)
        response = handler(request) if handler else Response(404, body=b"not found")
        if response.delay:
            time.sleep(response.delay)
        try:
            self.send_response(response.status)
            for index in range(response.drip_headers):  # each line alone: a header drip
                self.send_header(f"X-Drip-{index}", "x")
                self.flush_headers()
                time.sleep(response.header_interval)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if response.send_length:
                self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if response.drip:
                self.drip_body(response)
            else:
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeouts, size caps): expected in these tests

    def drip_body(self, response: Response) -> None:
        """A byte at a time (bounded by the body's length), as a slow-loris server would."""
        for index in range(len(response.body)):
            self.wfile.write(response.body[index : index + 1])
            time.sleep(response.drip)

    def log_message(self, format, *args):
        pass


class FeedServer:
    def __init__(self):
        self.routes: dict = {}
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), RouteHandler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def route(self, path: str, handler) -> None:
        self.routes[path] = handler

    def record(self, request: Request) -> None:
        with self.lock:
            self.requests.append(request)

    def requests_to(self, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def start(self) -> FeedServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# --- content -------------------------------------------------------------------


def rss_feed(title: str, items: list[tuple[str, str, str]], encoding: str = "utf-8") -> bytes:
    """items: (title, link, html description)."""
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link>"
        f"<pubDate>Tue, 30 Apr 2024 10:00:00 GMT</pubDate>"
        f"<description><![CDATA[{html}]]></description></item>"
        for t, link, html in items
    )
    return (
        f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel>'
        f"<title>{title}</title><language>en</language>{body}</channel></rss>"
    ).encode(encoding)


def article_page(title: str, paragraphs: list[str], canonical: str, author: str, date: str) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f'<!DOCTYPE html><html lang="en"><head><title>{title}</title>'
        f'<link rel="canonical" href="{canonical}">'
        f'<meta name="author" content="{author}">'
        f'<meta property="article:published_time" content="{date}">'
        f"</head><body><nav>Home | World | Sport</nav><article><h1>{title}</h1>{body}</article>"
        f"<footer>Copyright Example News</footer></body></html>"
    ).encode()


LONG_PARAGRAPHS = [
    "The city council met on Tuesday evening to debate the new harbour plan, which has divided "
    "residents for more than a year and drawn hundreds of written comments from local businesses.",
    "Supporters say the plan will bring jobs and tourism to the waterfront, while critics worry "
    "about traffic, noise and the loss of the old fish market that has stood there since 1902.",
    "A final vote is expected next month after an independent review of the environmental report "
    "commissioned by the regional authority and published in full on its website last week.",
]

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
    + b"".join(f'<!ENTITY a{i} "{("&a" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode() for i in range(1, 10))
    + b']><rss version="2.0"><channel><item><title>x</title>'
    b"<description>&a9;</description></item></channel></rss>"
)

OPML = b"""<?xml version="1.0"?><opml version="2.0"><head><title>subs</title></head><body>
<outline text="News"><outline text="A" type="rss" xmlUrl="http://127.0.0.1:{port}/feed.xml"/>
  <outline text="Nested"><outline text="B" xmlUrl="http://127.0.0.1:{port}/gzip.xml"/></outline>
</outline>
<outline text="no url"/><outline text="junk" xmlUrl="javascript:alert(1)"/>
</body></opml>"""


# --- standard routes -------------------------------------------------------------


def conditional_feed(body: bytes, etag: str, last_modified: str):
    def handler(request: Request) -> Response:
        headers = {"Content-Type": "application/rss+xml; charset=utf-8", "ETag": etag, "Last-Modified": last_modified}
        if request.headers.get("if-none-match") == etag or request.headers.get("if-modified-since") == last_modified:
            return Response(304, headers)
        return Response(200, headers, body)

    return handler


def counting(handler_for_call):
    """A handler whose answer depends on how often it was called (per server)."""
    calls = {"n": 0}
    lock = threading.Lock()

    def handler(request):
        with lock:
            calls["n"] += 1
            n = calls["n"]
        return handler_for_call(n, request)

    return handler


def install_standard_routes(server: FeedServer, slow_seconds: float = 3.0, big_bytes: int = 2 * 1024 * 1024) -> None:
    base = server.url("")
    last_modified = format_datetime(datetime(2024, 4, 30, 10, tzinfo=timezone.utc), usegmt=True)
    feed = rss_feed(
        "Example News",
        [
            ("Harbour plan", f"{base}/articles/1.html", "<p>Feed summary one.</p>"),
            ("Broken link", f"{base}/articles/missing.html", "<p>Feed summary two.</p>"),
            ("Nothing", f"{base}/articles/3.html", ""),
        ],
    )
    xml = {"Content-Type": "application/rss+xml; charset=utf-8"}
    server.route("/feed.xml", conditional_feed(feed, '"v1"', last_modified))
    server.route(
        "/changing.xml",
        counting(
            lambda n, r: Response(
                200,
                {**xml, "ETag": f'"c{n}"'},
                rss_feed("Changing", [(f"Version {n}", f"{base}/c/{n}", f"<p>Body {n}</p>")]),
            )
        ),
    )
    server.route("/same-body.xml", lambda r: Response(200, xml, feed))
    server.route(
        "/articles/1.html",
        lambda r: Response(
            200,
            {"Content-Type": "text/html; charset=utf-8"},
            article_page("Harbour plan", LONG_PARAGRAPHS, f"{base}/canonical/harbour", "Jane Reporter", "2024-04-29"),
        ),
    )
    server.route("/slow.xml", lambda r: Response(200, xml, feed, delay=slow_seconds))
    # Each read gets data within a fraction of a second; the whole answer takes ~10 s.
    server.route("/drip-body.xml", lambda r: Response(200, xml, feed[:50], drip=0.2))
    server.route("/drip-headers.xml", lambda r: Response(200, xml, feed, drip_headers=50, header_interval=0.2))
    server.route(
        "/flaky.xml", counting(lambda n, r: Response(500, body=b"oops") if n == 1 else Response(200, xml, feed))
    )
    server.route("/always-500.xml", lambda r: Response(503, body=b"down"))
    server.route(
        "/ratelimited.xml",
        counting(lambda n, r: Response(429, {"Retry-After": "1"}) if n == 1 else Response(200, xml, feed)),
    )
    server.route("/ratelimited-long.xml", lambda r: Response(429, {"Retry-After": "3600"}))
    server.route("/loop-a", lambda r: Response(302, {"Location": "/loop-b"}))
    server.route("/loop-b", lambda r: Response(302, {"Location": "/loop-a"}))
    server.route("/redirect-once", lambda r: Response(301, {"Location": "/feed.xml"}))
    server.route("/redirect-to-file", lambda r: Response(302, {"Location": "file:///etc/passwd"}))
    server.route("/redirect-to-ip", lambda r: Response(302, {"Location": server.url("/feed.xml")}))
    server.route("/redirect-to-broken", lambda r: Response(302, {"Location": "http://[::1/x"}))
    server.route(
        "/broken-link.xml",
        lambda r: Response(
            200,
            xml,
            rss_feed(
                "Broken links",
                [
                    ("Unclosed bracket", "http://[::1", "<p>Entry with a broken link.</p>"),
                    ("Not an address", "http://[example]/x", "<p>Another broken link.</p>"),
                    ("Fine", f"{base}/articles/1.html", "<p>Entry with a good link.</p>"),
                ],
            ),
        ),
    )
    server.route("/big.xml", lambda r: Response(200, xml, b"x" * big_bytes))
    server.route("/big-unannounced.xml", lambda r: Response(200, xml, b"x" * big_bytes, send_length=False))
    server.route(
        "/gzip-bomb.xml",
        lambda r: Response(200, {**xml, "Content-Encoding": "gzip"}, gzip.compress(b"\0" * (big_bytes * 4))),
    )
    server.route("/gzip.xml", lambda r: Response(200, {**xml, "Content-Encoding": "gzip"}, gzip.compress(feed)))
    server.route(
        "/wrong-charset.xml",
        lambda r: Response(
            200,
            {"Content-Type": "text/xml; charset=us-ascii"},
            rss_feed("Zürich Zeitung", [("Grüße", f"{base}/z", "<p>Zürich größte Stadt.</p>")]),
        ),
    )
    server.route("/lol.xml", lambda r: Response(200, xml, BILLION_LAUGHS))
    server.route(
        "/feeds.opml",
        lambda r: Response(200, {"Content-Type": "text/x-opml"}, OPML.replace(b"{port}", str(server.port).encode())),
    )
    server.route(
        "/feeds.txt",
        lambda r: Response(
            200,
            {"Content-Type": "text/plain"},
            f"# my feeds\n{base}/feed.xml\n\n{base}/gzip.xml  # inline\nnot a url\n".encode(),
        ),
    )


@pytest.fixture
def feed_server():
    with FeedServer() as server:
        install_standard_routes(server)
        yield server
