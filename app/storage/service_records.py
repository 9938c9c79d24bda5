"""The queues' service records a process holds, so that a script can leave out one that
has not changed, and the estimate of a visit a check-in or a move answers.

A queue's record (its newest services), its history of the current hour and its staffing
are what its wait estimates are made from (app/visits/estimates.py). The snapshot, the
check-in and the move scripts answer them, unless told the newest entry of the record the
caller holds (`seen`) and that entry is still the newest (lib.lua's `service_record`):
then they answer false for the three, and the copy held here is used. A record changes
only when a service starts or ends, so a redraw, a check-in or a transfer between two of
those reads it once.
"""

from __future__ import annotations

import json
from typing import Any

from app import clock
from app.kept import Kept
from app.sites import Site
from app.visits import estimates, visit_json

# (record's newest entry, hour, record, hour's history, staffing)
Held = tuple[str, int, list[str], list[str], dict[str, str]]


class ServiceRecords:
    """A process's copies of queues' records, by (site, queue), the newest `size`."""

    def __init__(self, size: int) -> None:
        self._kept: Kept[tuple[str, str], Held] = Kept(size)

    def held(self, site_id: str, queue: str, hour: int) -> Held | None:
        """The copy of the queue's record, if one is held with the history of `hour`; a
        script is told its newest entry (`seen`)."""
        kept = self._kept.get((site_id, queue))
        return kept if kept is not None and kept[1] == hour else None

    def remember(self, site_id: str, queue: str, hour: int, record: Any, history: Any,
                 staffing: Any, held: Held | None) -> tuple[list[str], list[str],
                                                          dict[str, str]]:
        """A queue's record, history of `hour` and staffing as a script answered them: the
        copy `held` when it left them out (false), else those it read, kept for the next
        read."""
        if record is False and held is not None:
            return held[2:]
        record = record if isinstance(record, list) else []
        history = history if isinstance(history, list) else []
        staffing = staffing if isinstance(staffing, dict) else {}
        if record:
            self._kept.put((site_id, queue), (record[0], hour, record, history, staffing))
        else:
            self._kept.drop((site_id, queue))
        return record, history, staffing

    def remember_snapshot(self, site_id: str, hour: int, data: dict[str, Any],
                          held: dict[str, Held]) -> None:
        """Put the records, histories and staffing a snapshot left out (unchanged since
        `held`: false) back into its `data`, and keep those it read."""
        service, history = data.setdefault("service", {}), data.setdefault("history", {})
        staffing = data.setdefault("staffing", {})
        for q, record in service.items():
            service[q], history[q], staffing[q] = self.remember(
                site_id, q, hour, record, history.get(q), staffing.get(q), held.get(q))

    def script_visit(self, site: Site, result: list[Any], hour: int,
                     held: Held | None) -> dict[str, Any]:
        """The staff view of the visit a check-in or a move answered with, its estimate
        included: from the queue's record the script answered, or the copy `held` when it
        left the record out."""
        fields = json.loads(result[3])
        position = int(fields["position"]) if fields.get("position") else None
        eta = None
        if position is not None and fields.get("status") == "waiting":
            inputs = json.loads(result[4])
            record, history, staffing = self.remember(
                site.id, fields["queue"], hour, inputs["record"], inputs["history"],
                inputs["staffing"], held)
            closed = inputs["closed"]
            eta = estimate(site, fields["queue"], position, record,
                       closed if isinstance(closed, list) else [], history, staffing)
        return visit_json(fields, position, eta)


def estimate(site: Site, queue_id: str, position: int, record: list[str], closed: list[str],
             history: list[str], staffing: dict[str, str]) -> dict[str, int] | None:
    """The wait of the visit at `position` in the queue, from the queue's record, its
    history of the current hour, its staffing and the site's closed rooms."""
    queue = site.queue(queue_id)
    if queue is None:
        return None
    now = clock.now()
    m = estimates.model(estimates.parse_record(record), clock.ms(now),
                        queue.minutes_per_patient, closed, estimates.parse_history(history),
                        estimates.staffing_changes(staffing, now.astimezone(site.tz)))
    return estimates.eta_at(m, position)
