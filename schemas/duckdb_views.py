"""DuckDB views over an output directory: one per table in schemas.tables."""
import os

import pyarrow as pa

from schemas.tables import PARTITION_COLUMN, TABLES

ARROW_TO_DUCKDB = {
    pa.string(): "VARCHAR", pa.int8(): "TINYINT", pa.uint32(): "UINTEGER", pa.int32(): "INTEGER", pa.int64(): "BIGINT", pa.bool_(): "BOOLEAN",
    pa.float64(): "DOUBLE", pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
    pa.list_(pa.string()): "VARCHAR[]",
}


def duckdb_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_list(arrow_type):
        return duckdb_type(arrow_type.value_type) + "[]"
    return ARROW_TO_DUCKDB[arrow_type]


def table_glob(output_dir: str, table_name: str) -> str:
    return f"{output_dir.rstrip('/')}/{table_name}/**/*.parquet"


def has_files(output_dir: str, table_name: str) -> bool:
    """Local folders are checked; remote ones (s3://, gs://) are assumed to have files."""
    folder = os.path.join(output_dir, table_name)
    if "://" in output_dir:
        return True
    return any(name.endswith(".parquet") and not name.startswith(".")
               for _, _, names in os.walk(folder) for name in names)


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_sql(output_dir: str, table) -> str:
    """A view reading the table's Parquet files, or an empty view of the right shape."""
    if has_files(output_dir, table.name):
        source = (f"read_parquet({quote_literal(table_glob(output_dir, table.name))}, "
                  "hive_partitioning = true, union_by_name = true)")
        return f'CREATE OR REPLACE VIEW "{table.name}" AS SELECT * FROM {source}'
    columns = ", ".join(
        f'CAST(NULL AS {"DATE" if c.name == PARTITION_COLUMN else duckdb_type(c.type)}) AS "{c.name}"'
        for c in table.columns)
    return f'CREATE OR REPLACE VIEW "{table.name}" AS SELECT {columns} WHERE false'


def extra_views_sql() -> list[str]:
    """Views derived from the tables (kept here, beside the tables they read)."""
    return [
        # The newest revision of each story: winners that no later revision replaces.
        'CREATE OR REPLACE VIEW "latest_articles" AS SELECT * FROM "articles" a '
        "WHERE a.duplicate_of IS NULL AND NOT EXISTS "
        '(SELECT 1 FROM "articles" r WHERE r.revision_of = a.article_id AND r.duplicate_of IS NULL)',
    ]


def open_output(output_dir: str, connection=None):
    """A DuckDB connection with a view per table over `output_dir`."""
    import duckdb

    con = connection or duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # timestamps are stored in UTC: show them so
    for table in TABLES.values():
        con.execute(view_sql(output_dir, table))
    for sql in extra_views_sql():
        con.execute(sql)
    return con
