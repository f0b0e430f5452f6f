"""The README's query cookbook runs as written, through `newsbeam query`, on a real output."""

import re
from pathlib import Path

import pytest
from conftest import SEEDS

from pipeline.cli import main
from schemas.duckdb_views import open_output

README = Path(__file__).resolve().parent.parent / "README.md"


def cookbook_queries() -> list[str]:
    """The SQL blocks of the README's *Query cookbook* section, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Query cookbook", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, re.S)


@pytest.fixture(scope="module")
def seeds_output(tmp_path_factory):
    output = tmp_path_factory.mktemp("cookbook") / "out"
    assert main(["run", "--input", str(SEEDS), "--output", str(output)]) == 0
    return output


def test_the_cookbook_has_its_recipes():
    assert len(cookbook_queries()) >= 6


@pytest.mark.parametrize("index", range(len(cookbook_queries())))
def test_cookbook_query_runs(seeds_output, capsys, index):
    sql = cookbook_queries()[index]
    if "'ID'" in sql:  # the copies of a story: ask about a real article
        ((article_id,),) = (
            open_output(str(seeds_output))
            .execute("SELECT article_id FROM articles ORDER BY article_id LIMIT 1")
            .fetchall()
        )
        sql = sql.replace("'ID'", f"'{article_id}'")
    capsys.readouterr()
    code = main(["query", "--output", str(seeds_output), sql])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "Error" not in out.err


def test_cookbook_answers_on_the_seeds(seeds_output):
    """The recipes that the seeds can answer do answer: not only 'no error'."""
    con = open_output(str(seeds_output))
    queries = cookbook_queries()
    top_entities, about_x, _copies, by_speaker = (con.execute(q).fetchall() for q in queries[:4])
    assert top_entities and about_x and by_speaker
    assert all(speaker for speaker, *_ in about_x)
