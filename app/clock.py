"""Wall-clock time in the two forms the store writes: ISO 8601 with offset, epoch ms.

The clock is configurable (`CLOCK_START`, `CLOCK_SPEED`; `configure`): from start-up it
reads `start` plus `speed` times the real time elapsed, so a simulated clinic day runs
through the real server in minutes (`bench/simulate.py`). Unconfigured, it is the real
time. Only what the server stamps follows it: Redis expiries, the browsers' running
timers and every other timeout stay in real time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

_real_origin = 0.0
_origin = 0.0
_speed = 1.0


def configure(start: datetime | None = None, speed: float = 1.0) -> None:
    """From now on, read `start` (or the real time now) advancing `speed` times faster."""
    global _real_origin, _origin, _speed
    real = time.time()
    _real_origin = real
    _origin = real if start is None else start.timestamp()
    _speed = speed


def now() -> datetime:
    return datetime.fromtimestamp(_origin + (time.time() - _real_origin) * _speed, UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def local_date(moment: datetime, tz: ZoneInfo) -> str:
    """The site's local calendar day, which is when ticket numbers restart."""
    return moment.astimezone(tz).date().isoformat()


def local_hour(moment: datetime, tz: ZoneInfo) -> tuple[int, int]:
    """The site's local hour at `moment` (0-23) and when it began (epoch ms): which hour's
    history of service times a script reads or writes."""
    local = moment.astimezone(tz)
    return local.hour, ms(local.replace(minute=0, second=0, microsecond=0))
