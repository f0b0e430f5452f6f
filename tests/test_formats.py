"""The format registry, and splittable inputs read in ranges whatever their size."""

import gzip
import json
from datetime import datetime, timezone

import pytest

from transforms.ingest.formats import FORMATS, ReadLimits, detect_format, format_named, named_function, sniff_format
from transforms.ingest.parse import parse_raw
from transforms.ingest.read import file_ranges, read_listed
from transforms.rejects import is_reject

NOW = datetime(2026, 11, 28, tzinfo=timezone.utc)


SHARED_EXTENSIONS = {".xml": {"sitemap", "feed"}}  # the bytes decide between these formats


def test_every_extension_maps_to_exactly_one_format_and_every_named_function_exists():
    owners = {}
    for fmt in FORMATS:
        for ext in fmt.extensions:
            owners.setdefault(ext, set()).add(fmt.name)
    assert {ext: names for ext, names in owners.items() if len(names) > 1} == SHARED_EXTENSIONS
    assert all(ext == ext.lower() for ext in owners)  # name suffixes ("sitemap.xml" too), matched lower case
    assert len({fmt.name for fmt in FORMATS}) == len(FORMATS)
    for fmt in FORMATS:
        assert callable(named_function(fmt.parser)), fmt.name
        assert (fmt.plan_ranges is None) == (fmt.read_range is None), fmt.name
        for reference in filter(None, (fmt.plan_ranges, fmt.read_range)):
            assert callable(named_function(reference)), reference
        for ext in set(fmt.extensions) - set(SHARED_EXTENSIONS):  # a more specific suffix wins
            raw = {"name": "a" + ext.upper(), "data": b""}
            assert detect_format(raw) == fmt.name, ext


SITEMAP = b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>x</loc></url>'
FEED_BYTES = b"<?xml version='1.0'?><rss version='2.0'><channel></channel></rss>"


@pytest.mark.parametrize(
    "name,data,expected",
    [
        ("news.xml", SITEMAP, "sitemap"),  # a sitemap under any .xml name, by its root
        ("world.xml", FEED_BYTES, "feed"),
        ("sitemap.xml", FEED_BYTES, "feed"),  # the bytes win over the name
        ("news-sitemap.xml", b"<broken", "sitemap"),  # nothing recognised: the longest matching suffix
        ("world.xml", b"<broken", "feed"),
    ],
)
def test_a_shared_extension_is_decided_by_the_bytes(name, data, expected):
    assert detect_format({"name": name, "data": data}) == expected


@pytest.mark.parametrize(
    "data,expected",
    [
        (b"WARC/1.0\r\nWARC-Type: warcinfo\r\n", "warc"),
        (b'{"a": 1}\n{"a": 2}\n', "jsonl"),
        (b'\xef\xbb\xbf {"a": 1}', "json"),
        (b"[1, 2]\n{", "json"),
        (b"<?xml version='1.0'?><rss version='2.0'>", "feed"),
        (b"<feed xmlns='http://www.w3.org/2005/Atom'>", "feed"),
        (b"<!doctype html><html><body>", "html"),
        (b"Headline\nbody", "txt"),
        (b"", "txt"),
    ],
)
def test_sniffing(data, expected):
    assert sniff_format(data) == expected


def test_unknown_forced_format_is_a_reject_not_a_crash():
    (reject,) = parse_raw({"input": "/in/x", "name": "x", "data": b"x", "fetched_at": NOW, "format": "nope"})
    assert (reject["stage"], reject["error"]) == ("parse", "nope_parser_error")
    with pytest.raises(KeyError):
        format_named("nope")


def json_lines(count: int) -> bytes:
    return b"".join(
        json.dumps({"title": f"T{i}", "text": f"Story {i}. " + "word " * (i % 9)}).encode() + b"\n"
        for i in range(count)
    )


def outcomes(path, limits):
    return [
        record
        for rng in file_ranges((str(path), "input"), limits)
        for raw in read_listed(rng, NOW, limits)
        for record in ([raw] if is_reject(raw) else parse_raw(raw))
    ]


def test_json_lines_over_the_file_cap_are_read_fully_in_ranges(tmp_path):
    data = json_lines(400)
    path = tmp_path / "big.jsonl"
    path.write_bytes(data)
    limits = ReadLimits(max_input_bytes=len(data) // 10, range_bytes=2000, max_record_bytes=1000)
    out = outcomes(path, limits)
    assert [r["input"].rsplit("/", 1)[1] for r in out] == [f"big.jsonl#{i}" for i in range(400)]
    assert not any(is_reject(r) for r in out)
    # A format read whole still has the cap.
    (path.parent / "big.json").write_bytes(b"[" + data.replace(b"\n", b",")[:-1] + b"]")
    (reject,) = outcomes(path.parent / "big.json", limits)
    assert (reject["stage"], reject["error"]) == ("read", "too_large")


def test_json_line_over_the_record_cap_is_a_reject_and_its_neighbours_stay(tmp_path):
    lines = json_lines(60).split(b"\n")
    lines[30] = json.dumps({"title": "huge", "text": "x" * 5000}).encode()
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b"\n".join(lines))
    out = outcomes(path, ReadLimits(range_bytes=1500, max_record_bytes=2000))
    assert [(r["input"].rsplit("/", 1)[1], r["stage"], r["error"]) for r in out if is_reject(r)] == [
        ("lines.jsonl#30", "read", "too_large")
    ]
    assert [r["title"] for r in out if not is_reject(r)] == [f"T{i}" for i in range(60) if i != 30]


def test_gzipped_json_lines_are_read_whole_within_the_cap(tmp_path):
    path = tmp_path / "lines.jsonl.gz"
    path.write_bytes(gzip.compress(json_lines(50)))
    limits = ReadLimits(range_bytes=500)
    assert file_ranges((str(path), "input"), limits) == [(str(path), "input", 0, None, 0)]
    assert len([r for r in outcomes(path, limits) if not is_reject(r)]) == 50


def test_read_inputs_reads_a_json_lines_file_over_the_cap_in_a_beam_pipeline(tmp_path):
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to
    from conftest import beam_pipeline

    from transforms.ingest.parse import Parse
    from transforms.ingest.read import ReadInputs

    data = json_lines(300)
    (tmp_path / "big.jsonl").write_bytes(data)
    limits = ReadLimits(max_input_bytes=len(data) // 4, range_bytes=1500)
    with beam_pipeline() as p:
        raw, read_rejects = p | ReadInputs([str(tmp_path)], [], NOW, limits)
        articles, parse_rejects = raw | Parse()
        assert_that(
            articles | beam.Map(lambda a: a["title"]), equal_to([f"T{i}" for i in range(300)]), label="articles"
        )
        assert_that((read_rejects, parse_rejects) | beam.Flatten(), equal_to([]), label="rejects")
