"""One way of writing a time of day per site, on every screen, report and CSV.

A site writes times on a 12-hour clock ("3:05 PM") or a 24-hour one ("15:05"): its
`time_format = "12h"` or `"24h"`, by default 12-hour for an English-speaking site and
24-hour otherwise. A day ("Nov 27", "27 nov") and a weekday ("Monday", "lunes") are
written as the site's language writes them (Babel's CLDR data). Pure.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_skeleton

TIME_FORMATS = ("12h", "24h")


def hour12(site: Any) -> bool:
    """Whether `site` (a Site) writes times on a 12-hour clock."""
    chosen = site.extra.get("time_format")
    if chosen in TIME_FORMATS:
        return chosen == "12h"
    return site.language.split("-")[0] == "en"


def clock(moment: datetime, tz: ZoneInfo, twelve: bool, seconds: bool = False) -> str:
    """`moment` on the wall clock of `tz`: "3:05 PM" / "15:05" (with `seconds`,
    "3:05:09 PM" / "15:05:09")."""
    local = moment.astimezone(tz)
    if twelve:
        return local.strftime("%-I:%M:%S %p" if seconds else "%-I:%M %p")
    return local.strftime("%H:%M:%S" if seconds else "%H:%M")


def site_clock(moment: datetime, site: Any, seconds: bool = False) -> str:
    """`moment` as `site` writes a time of day."""
    return clock(moment, site.tz, hour12(site), seconds)


def site_clock_ms(ms: int | str | None, site: Any, seconds: bool = False) -> str:
    """Epoch milliseconds as `site` writes a time of day ("" for none)."""
    if not ms:
        return ""
    return site_clock(datetime.fromtimestamp(int(ms) / 1000, UTC), site, seconds)


def site_locale(site: Any) -> Locale:
    """The Babel locale of the site's language (`language`), English if Babel has none."""
    code = site.language.replace("-", "_")
    try:
        return Locale.parse(code)
    except (ValueError, TypeError, UnknownLocaleError):
        return Locale.parse("en")


def site_day(moment: datetime, site: Any) -> str:
    """The day of `moment` in the site's time zone, its month abbreviated, in the site's
    language and order: "Nov 27" (en), "27 nov" (es), "27. Nov." (de)."""
    return format_skeleton("MMMd", moment.astimezone(site.tz), locale=site_locale(site))


def site_weekday(day: date, site: Any) -> str:
    """The weekday of `day` in full, in the site's language: "Monday" (en), "lunes" (es)."""
    return format_date(day, "EEEE", locale=site_locale(site))
