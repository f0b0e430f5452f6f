"""Writing tables: Parquet files, the commit protocol and checkpoints."""
