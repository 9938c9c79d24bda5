"""A day's flow in numbers, from the per-day audit log (no personal fields).

Pure: takes the audit entries (ids, ticket, queue, priority, action, time: what lib.lua's
`emit` keeps for `AUDIT_RETENTION_DAYS`, long after a visit's personal fields expired) and
answers the day's arrivals, waits, throughput, no-shows and walk-outs, for the whole site,
by queue and by priority.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

Entry = Mapping[str, Any]
PRIORITIES = {0: "normal", 1: "high", 2: "urgent"}
# Wait histogram buckets, minutes: [0, 5), [5, 10), ... and the last open-ended.
WAIT_BUCKETS = (0, 5, 10, 15, 20, 30, 45, 60, 90)


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of the values; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Durations:
    """Minutes from one step to the next, with the summaries the report shows."""

    values: list[float] = field(default_factory=list)

    def add(self, minutes: float) -> None:
        self.values.append(minutes)

    def summary(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 1)

        return {"count": len(self.values), "median": r(percentile(self.values, 50)),
                "p90": r(percentile(self.values, 90)),
                "longest": r(max(self.values) if self.values else None)}


@dataclass
class Group:
    """The numbers of one slice of the day (the site, a queue, a priority)."""

    arrivals: int = 0
    seen: int = 0  # done
    no_shows: int = 0
    left: int = 0
    wait: Durations = field(default_factory=Durations)  # check-in (or transfer) to call
    call_to_room: Durations = field(default_factory=Durations)
    door_to_done: Durations = field(default_factory=Durations)

    def to_json(self) -> dict[str, Any]:
        return {"arrivals": self.arrivals, "seen": self.seen, "no_shows": self.no_shows,
                "left_without_being_seen": self.left, "wait": self.wait.summary(),
                "call_to_room": self.call_to_room.summary(),
                "door_to_done": self.door_to_done.summary()}


@dataclass
class DayStats:
    date: str
    site: Group = field(default_factory=Group)
    queues: dict[str, Group] = field(default_factory=dict)
    priorities: dict[str, Group] = field(default_factory=dict)
    arrivals_by_hour: list[int] = field(default_factory=lambda: [0] * 24)
    done_by_hour: list[int] = field(default_factory=lambda: [0] * 24)
    appointments_missed: int = 0

    def groups(self, queue: str, priority: int) -> list[Group]:
        return [self.site, self.queues.setdefault(queue, Group()),
                self.priorities.setdefault(PRIORITIES.get(priority, str(priority)), Group())]

    @property
    def wait_histogram(self) -> list[tuple[str, int]]:
        """(label, patients) per bucket of the check-in-to-call wait."""
        counts = [0] * len(WAIT_BUCKETS)
        for v in self.site.wait.values:
            i = max(i for i, lo in enumerate(WAIT_BUCKETS) if v >= lo) if v >= 0 else 0
            counts[i] += 1
        labels = [f"{lo}-{hi}" for lo, hi in itertools.pairwise(WAIT_BUCKETS)]
        return list(zip([*labels, f"{WAIT_BUCKETS[-1]}+"], counts, strict=True))

    def to_json(self) -> dict[str, Any]:
        """docs/api.md's day statistics."""
        return {
            "date": self.date, **self.site.to_json(),
            "appointments_missed": self.appointments_missed,
            "arrivals_by_hour": self.arrivals_by_hour,
            "throughput_by_hour": self.done_by_hour,
            "wait_histogram": [{"minutes": label, "patients": n}
                               for label, n in self.wait_histogram],
            "queues": {q: g.to_json() for q, g in sorted(self.queues.items())},
            "priorities": {p: g.to_json() for p, g in self.priorities.items()},
        }


def _moment(entry: Entry) -> datetime | None:
    try:
        return datetime.fromisoformat(str(entry.get("at")))
    except ValueError:
        return None


def day_stats(date: str, entries: Iterable[Entry], tz: ZoneInfo) -> DayStats:
    """The day's numbers from its audit entries, oldest first."""
    out = DayStats(date)
    visits: dict[str, dict[str, Any]] = {}  # visit id -> what the walk has seen so far
    for entry in entries:
        kind, at = entry.get("type"), _moment(entry)
        if at is None:
            continue
        if kind == "appointment.no_show":
            out.appointments_missed += 1
            continue
        visit_id = entry.get("visit_id")
        if not visit_id or not str(kind).startswith("visit."):
            continue
        hour = at.astimezone(tz).hour
        if kind == "visit.checked_in":
            priority = int(entry.get("priority") or 0)
            v = visits[visit_id] = {"queue": entry.get("queue", ""), "priority": priority,
                                    "door": at, "joined": at, "called": None}
            out.arrivals_by_hour[hour] += 1
            for g in out.groups(v["queue"], priority):
                g.arrivals += 1
            continue
        v = visits.get(visit_id)
        if v is None:  # checked in on another day
            continue
        groups = out.groups(v["queue"], v["priority"])
        if kind in ("visit.called", "visit.roomed") and v["joined"] is not None:
            for g in groups:
                g.wait.add((at - v["joined"]).total_seconds() / 60)
            v["joined"] = None
        if kind == "visit.called" and v["called"] is None:
            v["called"] = at
        elif kind == "visit.roomed" and v["called"] is not None:
            for g in groups:
                g.call_to_room.add((at - v["called"]).total_seconds() / 60)
            v["called"] = None
        elif kind in ("visit.returned", "visit.transferred"):
            v["queue"], v["joined"], v["called"] = entry.get("queue", v["queue"]), at, None
        elif kind == "visit.done":
            out.done_by_hour[hour] += 1
            for g in groups:
                g.seen += 1
                g.door_to_done.add((at - v["door"]).total_seconds() / 60)
        elif kind == "visit.no_show":
            for g in groups:
                g.no_shows += 1
        elif kind == "visit.left":
            for g in groups:
                g.left += 1
    return out


CSV_FIELDS = ("slice", "arrivals", "seen", "no_shows", "left_without_being_seen",
              "wait_median", "wait_p90", "wait_longest", "call_to_room_median",
              "door_to_done_median")


def stats_csv(stats: DayStats) -> str:
    """One row per slice (the site, each queue, each priority), minutes for durations."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_FIELDS)
    slices = [("all", stats.site), *((f"queue:{q}", g) for q, g in sorted(stats.queues.items())),
              *((f"priority:{p}", g) for p, g in stats.priorities.items())]
    for name, g in slices:
        j = g.to_json()
        writer.writerow([name, j["arrivals"], j["seen"], j["no_shows"],
                         j["left_without_being_seen"], j["wait"]["median"], j["wait"]["p90"],
                         j["wait"]["longest"], j["call_to_room"]["median"],
                         j["door_to_done"]["median"]])
    return buf.getvalue()
