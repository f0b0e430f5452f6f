"""TestPipeline tests of the Read, Parse, Rejects and NLP composites."""

from datetime import datetime, timezone

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to
from conftest import SEED_ARTICLE, beam_pipeline

from transforms.ingest.parse import Parse
from transforms.ingest.read import ReadInputs
from transforms.nlp.inference import ExtractEntitiesAndQuotes
from transforms.rejects import FinalizeRejects, make_reject, reject_id

NOW = datetime(2026, 11, 28, tzinfo=timezone.utc)


def test_read_and_parse_route_articles_and_rejects(tmp_path):
    (tmp_path / "a.txt").write_text("Head\n\nBody")
    (tmp_path / "b.json").write_text('[{"title": "x", "text": "one"}, {"title": "y", "text": ""}]')
    (tmp_path / "feedlike.txt").write_text(
        "<rss version='2.0'><channel><title>F</title><item>"
        "<title>E</title><description>Entry text</description></item></channel></rss>"
    )
    with beam_pipeline() as p:
        raw, read_rejects = p | ReadInputs([str(tmp_path / "[ab].*")], [str(tmp_path / "feedlike.txt")], NOW)
        parsed, rejects = raw | Parse()
        assert_that(
            parsed | "Texts" >> beam.Map(lambda a: a["text"]), equal_to(["Body", "one", "Entry text"]), label="texts"
        )
        assert_that(
            rejects | "Reasons" >> beam.Map(lambda r: (r["input"].rsplit("/", 1)[-1], r["stage"], r["error"])),
            equal_to([("b.json#1", "validate", "empty_text")]),
            label="rejects",
        )
        assert_that(read_rejects, equal_to([]), label="no read rejects")


def test_finalize_rejects_drops_those_stored_and_repeats():
    rejects = [
        make_reject("/a", "parse", "binary"),
        make_reject("/a", "parse", "binary"),
        make_reject("/b", "read", "unreadable"),
    ]
    stored_id = {"reject_id": reject_id(rejects[2])}
    with beam_pipeline() as p:
        rows = (
            p
            | "Rejects" >> beam.Create(rejects)
            | FinalizeRejects(p | "Stored" >> beam.Create([stored_id]), "run1", NOW)
        )
        assert_that(
            rows | beam.Map(lambda r: (r["input"], r["run_id"], r["date"])), equal_to([("/a", "run1", "2026-11-28")])
        )


def test_nlp_transform_runs_spacy_through_run_inference():
    text = SEED_ARTICLE.read_text(encoding="utf-8").split("\n", 1)[1]
    article = {"article_id": "a1", "date": "2026-03-17", "run_id": "r1", "text": text}
    with beam_pipeline() as p:
        entities, quotes, rejects = p | beam.Create([article]) | ExtractEntitiesAndQuotes(max_batch_chars=4000)
        assert_that(
            entities
            | "Peskov" >> beam.Filter(lambda e: e["canonical"] == "Dmitry Peskov")
            | "Keys" >> beam.Map(lambda e: (e["article_id"], e["label"], e["date"], e["run_id"]))
            | beam.Distinct(),
            equal_to([("a1", "PERSON", "2026-03-17", "r1")]),
            label="entities",
        )
        assert_that(rejects, equal_to([]), label="no nlp rejects")
