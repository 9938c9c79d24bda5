"""Wall-clock time in the two forms the store writes: ISO 8601 with offset, epoch ms."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def local_date(moment: datetime, tz: ZoneInfo) -> str:
    """The site's local calendar day, which is when ticket numbers restart."""
    return moment.astimezone(tz).date().isoformat()
