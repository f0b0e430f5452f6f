import importlib.util

import duckdb
from conftest import REPO

from schemas.docs import tables_markdown
from schemas.duckdb_views import open_output
from schemas.tables import TABLES


def test_readme_documents_every_column_from_schemas_and_includes_docs():
    spec = importlib.util.spec_from_file_location("update_readme", REPO / "scripts" / "update_readme.py")
    update_readme = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(update_readme)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert tables_markdown() in readme
    assert update_readme.generated(readme) == readme, "README is stale: run `python scripts/update_readme.py`"


def test_views_exist_with_every_column_even_for_an_empty_output(tmp_path):
    con = open_output(str(tmp_path), duckdb.connect())
    for table in TABLES.values():
        columns = [row[0] for row in con.execute(f'DESCRIBE "{table.name}"').fetchall()]
        assert columns == table.column_names
        assert con.execute(f'SELECT count(*) FROM "{table.name}"').fetchone() == (0,)
