"""Honest wait estimates: who is serving a queue now, and how long a service really takes.

Pure: no I/O. The input is a queue's service record (`app/storage/scripts/move.lua` appends an
entry when a patient is called or roomed from the queue, and another when that service
ends), the time, and the queue's configured minutes per patient. From it:

- the servers (rooms or desks; the caller when a call named neither) serving the queue
  now: those with a patient now, and those that finished one in the last
  `RECENT_SERVER_MINUTES` or two services, whichever is longer;
- how long a service takes: a trimmed mean and a quartile spread of the durations of the
  services that started in the same hour of day, over the days (the queue's per-hour
  history, also written by move.lua) when there are enough of them, else of the record's
  recent ones, else the configured default (the cold start);
- per position in line, when a server will be free for that patient: every busy server is
  free after what is left of its service, then each takes one service per patient, the
  earliest free first; servers come and go over the next hours as they did on the last
  earlier day (the queue's staffing by hour, also written by move.lua).

The answer is a range, wider the further back in line, because a single number would be
a promise the desk cannot keep. `docs/estimates.md` says how the range was tuned and how
often it holds.
"""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

RECORD_ENTRIES = 160  # a queue's record keeps its newest entries, starts and ends
MIN_SAMPLES = 5  # finished services before the record replaces the configured default
HOUR_SAMPLES = 8  # in the hour's history before it is used instead of the record
HOUR_HISTORY = 100  # durations kept per queue and hour of day, newest first, over the days
HISTORY_DAYS = 28  # an hour's history is dropped this long after its last service ended
RECENT_SERVER_MINUTES = 20.0
STALE_SERVICE_MINUTES = 240.0  # an unfinished service older than this is not a busy server
Z = 1.6  # spread multiplier of the range: ~89 % two-sided for a normal error
MARGIN_MINUTES = 1.5  # the desk's own delay between a free server and the next call
NO_WAIT_MINUTES = 2  # a range whose high end is at most this reads "No wait"


@dataclass(frozen=True)
class Service:
    """One service of the record: started (epoch ms) at a server; ended, or still on."""

    visit_id: str
    server: str
    start_ms: int
    end_ms: int | None = None
    counted: bool = True  # False: the patient went back to the queue; not a sample


@dataclass(frozen=True)
class QueueModel:
    servers: int  # serving the queue now (0: nobody is)
    busy_remaining: tuple[float, ...]  # minutes left of each service under way
    minutes: float  # a typical service (robust mean)
    spread: float  # its spread (quartiles), minutes
    learned: bool  # False: the configured default stands in
    # How the number of servers is expected to change ahead, from the last earlier day's
    # staffing at the same hours (`staffing_changes`): (minutes from now, servers gained,
    # or lost when negative), in time order.
    changes: tuple[tuple[float, int], ...] = ()


def parse_record(entries: Iterable[str]) -> tuple[Service, ...]:
    """The services of a record, newest first as stored. An entry is
    ``s|start_ms|server|visit`` (a service began) or ``e|start_ms|end_ms|server|visit``
    / ``x|…`` (it ended; `x`: the patient was sent back to wait). A start whose end is
    also listed is merged into it; malformed entries are skipped."""
    return _parse(tuple(entries))


@functools.lru_cache(maxsize=256)
def _parse(entries: tuple[str, ...]) -> tuple[Service, ...]:
    # A record changes only when a service starts or ends: every redraw in between reads
    # the same one again.
    ended: set[tuple[str, int]] = set()
    out: list[Service] = []
    for entry in entries:
        svc = _entry(entry)
        if svc is None:
            continue
        if svc.end_ms is not None:
            ended.add((svc.visit_id, svc.start_ms))
        elif (svc.visit_id, svc.start_ms) in ended:
            continue
        out.append(svc)
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def _entry(entry: str) -> Service | None:
    # Each service that starts or ends changes the record by one entry: the rest were
    # parsed for the redraws before.
    parts = entry.split("|")
    try:
        if parts[0] in ("e", "x") and len(parts) == 5:
            return Service(parts[4], parts[3], int(parts[1]), int(parts[2]), parts[0] == "e")
        if parts[0] == "s" and len(parts) == 4:
            return Service(parts[3], parts[2], int(parts[1]))
    except ValueError:
        pass
    return None


def _quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of sorted `values`."""
    pos = (len(values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def service_minutes(durations: Sequence[float], default: float) -> tuple[float, float, bool]:
    """(typical, spread, learned) of service durations in minutes: the mean of the middle
    90 % (one patient kept an hour by a complication does not move it much) and the
    interquartile range over 1.349 (a normal's standard deviation); the configured
    default, with half of it as spread, below `MIN_SAMPLES`."""
    if len(durations) < MIN_SAMPLES:
        return default, default / 2, False
    values = sorted(durations)
    cut = len(values) // 20
    middle = values[cut:len(values) - cut]
    mean = sum(middle) / len(middle)
    spread = (_quantile(values, 0.75) - _quantile(values, 0.25)) / 1.349
    return max(mean, 0.1), max(spread, mean / 10), True


def parse_history(entries: Iterable[str]) -> tuple[float, ...]:
    """An hour's history as stored (seconds, newest first) in minutes; malformed entries
    are skipped."""
    return _parse_history(tuple(entries))


@functools.lru_cache(maxsize=256)
def _parse_history(entries: tuple[str, ...]) -> tuple[float, ...]:
    out = []
    for entry in entries:
        try:
            out.append(int(entry) / 60)
        except ValueError:
            continue
    return tuple(out)


def model(record: Iterable[Service], now_ms: int, default_minutes: float,
          closed: Iterable[str] = (), history: Sequence[float] = (),
          changes: tuple[tuple[float, int], ...] = (), samples: int = 60) -> QueueModel:
    """What the record says about the queue at `now_ms` (see the module's docstring).
    A room or desk in `closed` serves nobody new (its provider has gone to lunch), though
    a patient still in it keeps it busy. `history` is the durations (minutes) of the
    services that started in the current hour of day, over the days: with at least
    `HOUR_SAMPLES` they say how long a service takes; else the newest `samples` finished
    services of the record do. `changes`: `staffing_changes`."""
    services = tuple(record)
    if len(history) >= HOUR_SAMPLES:
        minutes, spread, learned = _typical(tuple(history), default_minutes)
    else:
        minutes, spread, learned = _recent_typical(services, default_minutes, samples)

    stale_ms = STALE_SERVICE_MINUTES * 60_000
    ongoing = [s for s in services if s.end_ms is None and 0 <= now_ms - s.start_ms < stale_ms]
    recent_ms = max(RECENT_SERVER_MINUTES, 2 * minutes) * 60_000
    idle_servers = {s.server for s in services
                    if s.end_ms is not None and now_ms - s.end_ms <= recent_ms} - set(closed)
    busy_servers = {s.server for s in ongoing}
    servers = max(len(busy_servers | idle_servers), len(ongoing))
    # What is left of a service under way: the typical length less what has passed, but
    # never less than a quarter of it (one that has run long is not about to end).
    remaining = tuple(sorted(max(minutes - (now_ms - s.start_ms) / 60_000, minutes / 4)
                             for s in ongoing))
    return QueueModel(servers, remaining, minutes, spread, learned, changes)


# A record or an hour's history changes only when a service ends: every redraw in between
# asks again about the same one.
@functools.lru_cache(maxsize=256)
def _typical(durations: tuple[float, ...], default: float) -> tuple[float, float, bool]:
    return service_minutes(durations, default)


@functools.lru_cache(maxsize=256)
def _recent_typical(services: tuple[Service, ...], default: float,
                    samples: int) -> tuple[float, float, bool]:
    finished = [s for s in services if s.end_ms is not None and s.counted
                and s.end_ms >= s.start_ms][:samples]
    return service_minutes(tuple((s.end_ms - s.start_ms) / 60_000 for s in finished
                                 if s.end_ms is not None), default)


def expected_waits(m: QueueModel, count: int) -> list[float]:
    """Minutes until a server is free for each of the first `count` positions in line.

    With nobody serving, one server is assumed to start after one typical service. A
    server lost in `m.changes` (a room that closes for lunch) finishes its patient and
    takes no other, the first to be free after the change leaving first; one gained is
    free from the change on. The last server never leaves."""
    waits, free = _walk(m, count)
    return waits + [_steady(free, m.minutes, j) for j in range(count - len(waits))]


def expected_wait(m: QueueModel, position: int) -> float:
    """`expected_waits(m, position)[-1]`, without working out every position ahead: a
    check-in at the back of a long line costs what the staffing changes cost, not the
    line's length."""
    waits, free = _walk(m, position)
    if len(waits) == position:
        return waits[-1]
    return _steady(free, m.minutes, position - 1 - len(waits))


def _walk(m: QueueModel, count: int) -> tuple[list[float], list[float]]:
    """The waits of the first positions, each server taking the next patient when it is
    free, until `count` positions or until the line is steady: no staffing change left
    to apply and every server free within one service of the others. From there each
    server takes one patient in turn every `m.minutes` (`_steady`); answers the waits so
    far and, when steady, the servers' free times, earliest first."""
    free: list[float]
    if m.servers == 0:
        free = [m.minutes]
    else:
        idle = max(m.servers - len(m.busy_remaining), 0)
        free = [0.0] * idle + list(m.busy_remaining)
    heapq.heapify(free)
    changes = list(m.changes) if m.servers else []
    leaving = 0
    waits: list[float] = []
    while len(waits) < count:
        if not changes and not leaving and max(free) - free[0] <= m.minutes:
            return waits, sorted(free)
        start = heapq.heappop(free)
        if changes and changes[0][0] <= start:
            at, delta = changes.pop(0)
            heapq.heappush(free, start)
            back = min(leaving, max(delta, 0))  # a gain first cancels a loss still due
            leaving += back - delta if delta < 0 else -back
            for _ in range(max(delta, 0) - back):
                heapq.heappush(free, max(at, 0.0))
            continue
        if leaving and free:
            leaving -= 1
            continue
        waits.append(start)
        heapq.heappush(free, start + m.minutes)
    return waits, sorted(free)


def _steady(free: list[float], minutes: float, j: int) -> float:
    """The wait of the `j`-th position (0-based) after the line became steady with the
    servers free at `free` (sorted): they take patients in that order, round after round."""
    rounds, server = divmod(j, len(free))
    return free[server] + rounds * minutes


def staffing_changes(staffing: Mapping[str, str], now: datetime,
                     ahead: int = 4) -> tuple[tuple[float, int], ...]:
    """The changes in servers expected over the next `ahead` hours, from the queue's
    staffing as move.lua keeps it (``"HH|server"`` -> ``"date,date"``, the last two local
    dates that server started a service of the queue in hour HH): on the most recent
    earlier day with any, how many servers started one in each hour, against the current
    hour's. Nothing when the current hour has no earlier day; no forecast past an hour
    that had none (after closing, say: the queue is still served until it is empty).
    `now`: the site's local time."""
    counts = _servers_by_hour(tuple(staffing.items()), now.date().isoformat())
    minutes_into_hour = now.minute + now.second / 60
    before = counts[now.hour]
    out: list[tuple[float, int]] = []
    for k in range(1, ahead + 1) if before else ():
        servers = counts[(now.hour + k) % 24]
        if not servers:
            break
        if servers != before:
            out.append((k * 60 - minutes_into_hour, servers - before))
            before = servers
    return tuple(out)


@functools.lru_cache(maxsize=256)
def _servers_by_hour(staffing: tuple[tuple[str, str], ...], today: str) -> tuple[int, ...]:
    """Per hour of day, the servers that started a service on its last day before
    `today` (the staffing changes only when a service starts)."""
    days: dict[int, dict[str, int]] = {}
    for field, dates in staffing:
        hh, _, _ = field.partition("|")
        earlier = [d for d in dates.split(",") if d and d < today]
        if earlier and hh.isdigit():
            per_day = days.setdefault(int(hh) % 24, {})
            per_day[earlier[0]] = per_day.get(earlier[0], 0) + 1
    return tuple(per_day[max(per_day)] if (per_day := days.get(h)) else 0 for h in range(24))


def eta_range(m: QueueModel, position: int, wait: float) -> dict[str, int]:
    """The range shown to the patient at `position` (1 = next) whose expected wait is
    `wait` minutes: wider with the services still to end before theirs, and wider still
    while nobody serves the queue or the default stands in for a learned pace."""
    servers = max(m.servers, 1)
    ahead = max(position - max(servers - len(m.busy_remaining), 0), 0)
    # Services that must end before this patient's starts, spread over the servers; with
    # a server free for them, only the desk's own delay is uncertain.
    half = MARGIN_MINUTES
    if ahead:
        half += Z * m.spread * math.sqrt(ahead / servers)
    if not m.learned:
        half += wait * 0.25
    if m.servers == 0:
        half += m.minutes / 2
    low = max(0, math.floor(wait - half))
    high = max(low + 1, math.ceil(wait + half))
    return {"low": low, "high": high}


def etas(m: QueueModel, count: int) -> list[dict[str, int]]:
    """The ranges of positions 1..count."""
    return [eta_range(m, i, w) for i, w in enumerate(expected_waits(m, count), start=1)]


def eta_at(m: QueueModel, position: int) -> dict[str, int]:
    """The range of `position` alone: what a check-in or a status read answers, without
    the range of every position ahead of it (a long queue made that the check-in's cost)."""
    return eta_range(m, position, expected_wait(m, position))


def no_wait(low: int, high: int) -> bool:
    """A range every screen words as "No wait" (app/templates/estimate_macros.html)."""
    return low == 0 and high <= NO_WAIT_MINUTES


def classic(position: int, average_minutes: float, servers: int) -> float:
    """The usual estimate, for comparison only: position * average service / servers."""
    return position * average_minutes / max(servers, 1)
