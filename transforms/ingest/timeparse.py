"""Dates from inputs: anything parseable becomes a timezone-aware UTC datetime."""

from datetime import date, datetime, timezone
from email.utils import parsedate_to_datetime

# Unix timestamps outside this range are not publication dates.
MIN_EPOCH, MAX_EPOCH = 0, 4102444800  # 1970 .. 2100


def parse_datetime(value) -> datetime | None:
    """ISO 8601, RFC 2822, a date, a datetime or epoch seconds -> UTC; else None.

    A value without a zone is taken as UTC. Never raises.
    """
    try:
        parsed = _parse(value)
    except (ValueError, OverflowError):  # text that is no date (or out of datetime's range): a date is optional
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # year 1 with a positive offset, and the like
        return None


def _parse(value):
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc) if MIN_EPOCH <= value <= MAX_EPOCH else None
    if not isinstance(value, str):  # a list, a dict, any other object: no date (never str() it)
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return parsedate_to_datetime(text)
