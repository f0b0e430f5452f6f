"""Deduplication: exact, same-URL and near-duplicate decisions, also against stored runs."""
