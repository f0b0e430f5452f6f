"""WARC input: records to articles or skips, ranges of a .warc.gz, and `newsbeam run` on one.

The WARC files are written here with warcio, the library that reads them."""

import io
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.cli import main
from schemas.duckdb_views import open_output
from transforms.articles import finalize_article
from transforms.ingest.formats import ReadLimits, is_skipped
from transforms.ingest.parse import parse_raw, validate
from transforms.ingest.read import file_ranges, read_listed
from transforms.rejects import is_reject

REPO = Path(__file__).resolve().parent.parent

NOW = datetime(2026, 11, 28, tzinfo=timezone.utc)
FETCHED = {"https://news.example/a": "2019-05-01T10:00:00Z", "https://news.example/b": "2019-05-02T11:30:00Z"}


def page(title: str, sentences: int, published: str | None = None) -> bytes:
    meta = f'<meta property="article:published_time" content="{published}">' if published else ""
    body = "".join(
        f"<p>{title} paragraph {i}: the council met again on Tuesday to discuss the "
        f"new bridge over the river and its cost to the city.</p>"
        for i in range(sentences)
    )
    return (
        f"<html><head><title>{title}</title>{meta}</head><body><article><h1>{title}</h1>{body}</article></body></html>"
    ).encode()


def response(writer, url, status, content_type, payload, date, headers=()):
    http = StatusAndHeaders(status, [("Content-Type", content_type), *headers], protocol="HTTP/1.1")
    writer.write_record(
        writer.create_warc_record(
            url, "response", payload=io.BytesIO(payload), http_headers=http, warc_headers_dict={"WARC-Date": date}
        )
    )


def crawl(gzip: bool = True, extra_pages: int = 0) -> bytes:
    """warcinfo, two HTML 200 responses (one dated by the page), an image, a 404, a
    redirect and a request record; `extra_pages` more HTML responses after them."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=gzip)
    writer.write_record(writer.create_warcinfo_record("crawl.warc.gz", {"software": "test"}))
    writer.write_record(
        writer.create_warc_record(
            "https://news.example/a",
            "request",
            payload=io.BytesIO(b"GET /a HTTP/1.1\r\nHost: news.example\r\n\r\n"),
            warc_headers_dict={"WARC-Date": FETCHED["https://news.example/a"]},
        )
    )
    response(
        writer,
        "https://news.example/a",
        "200 OK",
        "text/html; charset=utf-8",
        page("Bridge plans approved", 4),
        FETCHED["https://news.example/a"],
    )
    response(
        writer,
        "https://news.example/logo.png",
        "200 OK",
        "image/png",
        b"\x89PNG\r\n\x1a\n" + bytes(200),
        "2019-05-01T10:00:01Z",
    )
    response(
        writer, "https://news.example/gone", "404 Not Found", "text/html", b"<html>gone</html>", "2019-05-01T10:00:02Z"
    )
    response(
        writer,
        "https://news.example/old",
        "301 Moved Permanently",
        "text/html",
        b"",
        "2019-05-01T10:00:03Z",
        headers=[("Location", "https://news.example/b")],
    )
    response(
        writer,
        "https://news.example/b",
        "200 OK",
        "text/html; charset=windows-1252",
        page("Caf\xe9 owners protest", 5, "2019-04-30T08:00:00Z").decode().encode("cp1252"),
        FETCHED["https://news.example/b"],
    )
    for i in range(extra_pages):
        response(
            writer,
            f"https://news.example/more/{i}",
            "200 OK",
            "text/html",
            page(f"Story number {i} of the day", 3 + i % 4),
            "2019-05-03T09:00:00Z",
        )
    return out.getvalue()


def outcomes(path, limits=ReadLimits()) -> list[dict]:
    """Everything the reader and parser give for a file, without Beam."""
    return [
        record
        for rng in file_ranges((str(path), "input"), limits)
        for raw in read_listed(rng, NOW, limits)
        for record in ([raw] if is_reject(raw) else parse_raw(raw))
    ]


def articles_of(records):
    return [validate(r) for r in records if not is_reject(r) and not is_skipped(r)]


@pytest.mark.parametrize("name,gzip", [("crawl.warc.gz", True), ("crawl.warc", False)])
def test_only_html_200_responses_become_articles_and_the_rest_is_skipped_by_kind(tmp_path, name, gzip):
    path = tmp_path / name
    path.write_bytes(crawl(gzip=gzip))
    out = outcomes(path)
    articles = articles_of(out)
    assert [a["url"] for a in articles] == ["https://news.example/a", "https://news.example/b"]
    assert [r for r in out if is_reject(r)] == []
    assert sorted(r["skipped"] for r in out if is_skipped(r)) == [
        "warc_skipped.not_html",
        "warc_skipped.redirect",
        "warc_skipped.request",
        "warc_skipped.status_404",
        "warc_skipped.warcinfo",
    ]
    rows = {a["url"]: finalize_article(a, "run1", NOW) for a in articles}
    # No date on page a: its fetch time (WARC-Date) stands in, flagged as inferred.
    assert rows["https://news.example/a"]["published_at"] == datetime(2019, 5, 1, 10, tzinfo=timezone.utc)
    assert rows["https://news.example/a"]["date_inferred"] is True
    # Page b states its date (trafilatura keeps the day), which wins; its windows-1252
    # text came through the HTTP charset.
    assert rows["https://news.example/b"]["published_at"] == datetime(2019, 4, 30, tzinfo=timezone.utc)
    assert rows["https://news.example/b"]["date_inferred"] is False
    assert rows["https://news.example/b"]["title"] == "Caf\xe9 owners protest"
    assert all("@" in a["input"] and a["input"].startswith(str(path)) for a in articles)


def test_a_split_warc_gives_the_same_articles_as_unsplit_each_once(tmp_path):
    path = tmp_path / "big.warc.gz"
    path.write_bytes(crawl(extra_pages=30))
    small = ReadLimits(range_bytes=1000)
    ranges = file_ranges((str(path), "input"), small)
    assert len(ranges) > 5 and all(kind == "warc" for _, kind, *_ in ranges)

    def summary(records):
        return sorted((r["input"], r.get("url"), r.get("skipped"), r.get("error")) for r in records)

    split, whole = outcomes(path, small), outcomes(path)
    assert len(file_ranges((str(path), "input"))) == 1
    assert summary(split) == summary(whole)
    names = [r["input"] for r in split]
    assert len(names) == len(set(names)) == 7 + 30
    assert len(articles_of(split)) == 32


def test_truncated_member_is_a_reject_and_the_records_before_it_stay(tmp_path):
    data = crawl()
    last_member = data.rfind(b"\x1f\x8b\x08")
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(data[: (last_member + len(data)) // 2])  # half of the last member: page b
    out = outcomes(path)
    assert [a["url"] for a in articles_of(out)] == ["https://news.example/a"]
    (reject,) = [r for r in out if is_reject(r)]
    assert (reject["stage"], reject["error"]) == ("parse", "bad_warc") and "whole WARC record" in reject["detail"]
    assert reject["input"].startswith(str(path) + "@")


def test_corrupt_member_is_a_reject_and_reading_goes_on_after_it(tmp_path):
    data = bytearray(crawl())
    second_member = data.find(b"\x1f\x8b\x08", 10)
    data[second_member + 12 : second_member + 40] = b"x" * 28  # the request record's deflate stream
    path = tmp_path / "corrupt.warc.gz"
    path.write_bytes(bytes(data))
    out = outcomes(path)
    assert [a["url"] for a in articles_of(out)] == ["https://news.example/a", "https://news.example/b"]
    assert [(r["input"], r["error"]) for r in out if is_reject(r)] == [(f"{path}@{second_member}", "bad_warc")]


def test_record_over_the_record_cap_is_a_reject(tmp_path):
    path = tmp_path / "crawl.warc.gz"
    path.write_bytes(crawl())
    out = outcomes(path, ReadLimits(max_record_bytes=300))
    assert [r["error"] for r in out if is_reject(r)] == ["too_large", "too_large"]
    assert articles_of(out) == []


@pytest.mark.parametrize("data", [b"WARC/1.0\r\nnonsense\r\n\r\n", b"hello world, not a WARC"])
def test_bytes_that_are_not_a_warc_are_a_reject(data):
    out = parse_raw({"input": "/in/x.warc", "name": "x.warc", "data": data, "fetched_at": NOW, "format": None})
    assert [(r["input"], r["stage"], r["error"]) for r in out] == [("/in/x.warc@0", "parse", "bad_warc")]


def test_newsbeam_run_on_a_warc_gz(tmp_path, capsys):
    source = tmp_path / "in" / "crawl.warc.gz"
    source.parent.mkdir()
    source.write_bytes(crawl())
    output = tmp_path / "out"
    code = main(["run", "--input", str(source), "--no-nlp", "--output", str(output)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    line = next(line for line in (printed.out + printed.err).splitlines() if line.startswith("run "))
    assert "inputs=2 articles=2 duplicates=0 rejects=0" in line and ": ok]" in line
    assert "warc_skipped (not_html=1, redirect=1, request=1, status_404=1, warcinfo=1)" in line.replace(
        "warc_skipped(", "warc_skipped ("
    )
    found = (
        open_output(str(output))
        .execute(
            "SELECT url, strftime(published_at, '%Y-%m-%d %H:%M'), date_inferred, text_source FROM articles "
            "ORDER BY url"
        )
        .fetchall()
    )
    assert found == [
        ("https://news.example/a", "2019-05-01 10:00", True, "page"),
        ("https://news.example/b", "2019-04-30 00:00", False, "page"),
    ]
    runs = list((output / "_runs").glob("*[0-9a-f].json"))
    summary = json.loads(next(p for p in runs if not p.name.endswith(".commit.json")).read_text())
    assert summary["balanced"] and summary["warc_skipped"]["request"] == 1


def test_newsbeam_extract_on_a_warc_prints_its_pages_only(tmp_path):
    """extract leaves skipped records out, as a run does: no error records for them."""
    source = tmp_path / "crawl.warc.gz"
    source.write_bytes(crawl())
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "extract", str(source)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(r["title"] for r in records) == ["Bridge plans approved", "Café owners protest"]
    assert not [r for r in records if "error" in r]
