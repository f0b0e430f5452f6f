"""The tables newsbeam writes: schemas.tables is the single source of truth."""

from schemas.tables import PARTITION_COLUMN, TABLES  # noqa: F401
