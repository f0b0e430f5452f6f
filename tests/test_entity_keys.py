"""Entity keys across articles: `entities.entity_key`, `quotes.speaker_key` and the DuckDB views
`entity_aliases`, `entities_resolved`, `quotes_resolved` (real spaCy model, real `newsbeam run`)."""

from pipeline.cli import main
from schemas.duckdb_views import open_output
from transforms.nlp.entity_keys import entity_key

ARTICLES = {
    "full.txt": "Ohio rally\nFormer president Donald Trump spoke in Ohio on Monday. Trump said the economy was weak.",
    "short.txt": "Iowa rally\nTrump held a rally in Iowa on Tuesday night. "
    '"We will win this state," Trump told the crowd.',
    "clintons.txt": "Dinner\nBill Clinton and Hillary Clinton attended a dinner in New York. "
    "Hillary Clinton said it was a good night.",
    "clinton.txt": 'Plan\nClinton criticised the plan on Wednesday. "It will not work," Clinton said.',
}
JUNIOR = "Georgia\nDonald Trump Jr. campaigned in Georgia on Thursday and spoke to voters for an hour."


def test_key_is_the_folded_canonical_name_with_the_common_label():
    assert entity_key("Donald Trump", "PERSON") == "person:donald trump"
    assert entity_key("Emmanuel Macron", "PER") == entity_key("Emmanuel Macron", "PERSON")
    assert entity_key("François Hollande", "PER") == "person:francois hollande"
    assert entity_key("Donald Trump Jr.", "PERSON") == "person:donald trump jr"
    assert entity_key("Paris", "GPE") == entity_key("Paris", "LOC") == "loc:paris"
    assert entity_key("$5 million", "MONEY") is None and entity_key("", "PERSON") is None


def run(inputs, output):
    assert main(["run", "--input", str(inputs), "--output", str(output)]) == 0


def test_keys_meet_across_articles_and_aliases_follow_the_data(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name, text in ARTICLES.items():
        (inputs / name).write_text(text, encoding="utf-8")
    output = tmp_path / "out"
    run(inputs, output)
    con = open_output(str(output))

    stored = {
        k
        for (k,) in con.execute("SELECT DISTINCT entity_key FROM entities WHERE entity_key LIKE 'person:%'").fetchall()
    }
    assert set(stored) == {
        "person:donald trump",
        "person:trump",
        "person:bill clinton",
        "person:hillary clinton",
        "person:clinton",
    }
    # a bare "Trump" joins the one Trump; a bare "Clinton" joins neither Clinton
    assert con.execute("SELECT alias_key, entity_key FROM entity_aliases").fetchall() == [
        ("person:trump", "person:donald trump")
    ]
    resolved = dict(
        con.execute(
            "SELECT DISTINCT entity_key, resolved_key FROM entities_resolved WHERE entity_key LIKE 'person:%'"
        ).fetchall()
    )
    assert resolved["person:trump"] == "person:donald trump"
    assert resolved["person:clinton"] == "person:clinton"
    assert resolved["person:bill clinton"] != resolved["person:hillary clinton"]
    speakers = dict(con.execute("SELECT speaker_key, resolved_speaker_key FROM quotes_resolved").fetchall())
    assert speakers == {"person:trump": "person:donald trump", "person:clinton": "person:clinton"}

    # Donald Trump Jr. arrives: his key stays apart, and "Trump" no longer names one person, so
    # its alias goes; the stored keys do not change.
    (inputs / "junior.txt").write_text(JUNIOR, encoding="utf-8")
    run(inputs, output)
    con = open_output(str(output))
    assert "person:donald trump jr" in {k for (k,) in con.execute("SELECT entity_key FROM entities").fetchall()}
    assert con.execute("SELECT alias_key FROM entity_aliases").fetchall() == []
    now = {
        k
        for (k,) in con.execute("SELECT DISTINCT entity_key FROM entities WHERE entity_key LIKE 'person:%'").fetchall()
    }
    assert now == stored | {"person:donald trump jr"}
