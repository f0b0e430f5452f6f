"""DuckDB views over an output directory: one per table in schemas.tables.

Views read the committed files only (transforms/sinks/commit.py), so a query sees whole
runs; a file that cannot be read is named and left out, and the other tables and
files stay queryable.
"""

import logging
import re

import pyarrow as pa

from schemas.tables import PARTITION_COLUMN, TABLES

ARROW_TO_DUCKDB = {
    pa.string(): "VARCHAR",
    pa.int8(): "TINYINT",
    pa.uint32(): "UINTEGER",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.bool_(): "BOOLEAN",
    pa.float64(): "DOUBLE",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
    pa.list_(pa.string()): "VARCHAR[]",
}


def duckdb_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_list(arrow_type):
        return duckdb_type(arrow_type.value_type) + "[]"
    return ARROW_TO_DUCKDB[arrow_type]


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_sql(table, files: list[str]) -> str:
    """A view reading the table's Parquet files, or an empty view of the right shape."""
    if files:
        paths = "[" + ", ".join(quote_literal(path) for path in files) + "]"
        source = f"read_parquet({paths}, hive_partitioning = true, union_by_name = true)"
        return f'CREATE OR REPLACE VIEW "{table.name}" AS SELECT * FROM {source}'
    columns = ", ".join(
        f'CAST(NULL AS {"DATE" if c.name == PARTITION_COLUMN else duckdb_type(c.type)}) AS "{c.name}"'
        for c in table.columns
    )
    return f'CREATE OR REPLACE VIEW "{table.name}" AS SELECT {columns} WHERE false'


def extra_views_sql() -> list[str]:
    """Views derived from the tables (kept here, beside the tables they read)."""
    return [
        # The newest revision of each story: winners that no later revision replaces.
        'CREATE OR REPLACE VIEW "latest_articles" AS SELECT * FROM "articles" a '
        "WHERE a.duplicate_of IS NULL AND NOT EXISTS "
        '(SELECT 1 FROM "articles" r WHERE r.revision_of = a.article_id AND r.duplicate_of IS NULL)',
    ]


# Cross-article joins of entity keys (transforms/nlp/entity_keys.py): a one-word person key
# (`person:trump`) is an alias of the one full name in the data ending in that word
# (`person:donald trump`), and of none when there are several (Bill and Hillary Clinton; a
# "Jr."/"Sr." name counts as another person with that surname). Computed at query time, so an
# alias appears or disappears as data arrives; the keys in the tables never change.
ENTITY_KEY_VIEWS = [
    'CREATE OR REPLACE VIEW "entity_aliases" AS '
    "WITH people AS (SELECT DISTINCT entity_key, string_split(substr(entity_key, 8), ' ') AS words "
    """FROM "entities" WHERE entity_key LIKE 'person:%'), """
    "surnames AS (SELECT entity_key, list_filter(words, lambda w: w NOT IN ('jr', 'sr', 'ii', 'iii', 'iv')) AS name "
    "FROM people WHERE len(words) > 1) "
    "SELECT 'person:' || name[-1] AS alias_key, min(entity_key) AS entity_key FROM surnames "
    "WHERE len(name) > 1 AND 'person:' || name[-1] IN (SELECT entity_key FROM people) "
    "GROUP BY name[-1] HAVING count(DISTINCT entity_key) = 1",
    'CREATE OR REPLACE VIEW "entities_resolved" AS SELECT e.*, coalesce(a.entity_key, e.entity_key) AS resolved_key '
    'FROM "entities" e LEFT JOIN "entity_aliases" a ON a.alias_key = e.entity_key',
    'CREATE OR REPLACE VIEW "quotes_resolved" AS SELECT q.*, '
    "coalesce(a.entity_key, q.speaker_key) AS resolved_speaker_key "
    'FROM "quotes" q LEFT JOIN "entity_aliases" a ON a.alias_key = q.speaker_key',
]


def view_names() -> list[str]:
    """The views open_output adds beside the tables (for help texts)."""
    return re.findall(r'VIEW "(\w+)"', " ".join([*extra_views_sql(), *ENTITY_KEY_VIEWS]))


def unreadable_files(files: list[str]) -> dict:
    """path -> reason, for files whose Parquet footer cannot be read."""
    import pyarrow.parquet as pq
    from apache_beam.io.filesystems import FileSystems

    bad = {}
    for path in files:
        try:
            with FileSystems.open(path, compression_type="uncompressed") as handle:
                pq.read_metadata(handle)
        except (OSError, pa.ArrowException) as error:
            bad[path] = f"{type(error).__name__}: {error}"
    return bad


def log_bad_file(path: str, reason: str) -> None:
    logging.getLogger("newsbeam").warning(
        "left out corrupt file %s (%s); `newsbeam check --repair` quarantines it", path, reason
    )


def open_output(output_dir: str, connection=None, on_bad_file=log_bad_file):
    """A DuckDB connection with a view per table over the committed files of `output_dir`.

    A file whose footer cannot be read is reported through on_bad_file(path,
    reason) and left out of its view.
    """
    import duckdb

    from transforms.sinks.commit import committed_files

    con = connection or duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # timestamps are stored in UTC: show them so
    for table in TABLES.values():
        files = committed_files(output_dir, table.name)
        try:
            con.execute(view_sql(table, files))
        except duckdb.Error:
            bad = unreadable_files(files)
            if not bad:
                raise
            for path, reason in bad.items():
                on_bad_file(path, reason)
            con.execute(view_sql(table, [path for path in files if path not in bad]))
    for sql in extra_views_sql():
        con.execute(sql)
    if "entity_key" in {row[0] for row in con.execute('DESCRIBE "entities"').fetchall()}:
        for sql in ENTITY_KEY_VIEWS:  # outputs written before entity keys have none
            con.execute(sql)
    return con
