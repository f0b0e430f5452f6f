import duckdb

from schemas.docs import tables_markdown
from schemas.duckdb_views import open_output
from schemas.tables import TABLES
from conftest import REPO


def test_readme_documents_every_column_from_schemas():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert tables_markdown() in readme, "README table docs are stale: run `python -m schemas.docs`"


def test_views_exist_with_every_column_even_for_an_empty_output(tmp_path):
    con = open_output(str(tmp_path), duckdb.connect())
    for table in TABLES.values():
        columns = [row[0] for row in con.execute(f'DESCRIBE "{table.name}"').fetchall()]
        assert columns == table.column_names
        assert con.execute(f'SELECT count(*) FROM "{table.name}"').fetchone() == (0,)
