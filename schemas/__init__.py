"""The tables newsbeam writes: schemas.tables is the single source of truth."""
from schemas.tables import TABLES, PARTITION_COLUMN  # noqa: F401
