"""What a PSR records on a visit without moving it: a flag cleared, a copay collected, a
staff note, a new priority; here the rules and the store, in routes.py their JSON API.

Each is one run of desk.lua: an event with its actor, and an audit entry without personal
fields."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from app import clock
from app.config import Settings
from app.errors import invalid, not_found
from app.sites import Site
from app.storage import keys, scripts
from app.storage.refusals import refusal
from app.visits import FINAL, FLAG_LABELS, visit_json

PAYMENT_METHODS = ("cash", "card", "check")
COPAY_MAX_CENTS = 100_000
NOTE_MAX = 140
AMOUNT_FORM = "The amount must be in dollars, such as 25 or 25.50."


def parse_amount(value: Any) -> int:
    """Cents from a copay amount ("25", "25.50", 25 or 25.5); 422 unless it is more than
    zero and at most $1,000 with at most two decimals."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise invalid(AMOUNT_FORM, field="amount")
    try:
        amount = Decimal(str(value).strip().lstrip("$"))
    except InvalidOperation:
        raise invalid(AMOUNT_FORM, field="amount") from None
    cents = amount * 100
    if not amount.is_finite() or cents != cents.to_integral_value():
        raise invalid("The amount can have at most two digits of cents, as in 25.50.",
                      field="amount")
    if not 0 < cents <= COPAY_MAX_CENTS:
        raise invalid(f"The amount must be between $0.01 and ${COPAY_MAX_CENTS // 100:,}.",
                      field="amount")
    return int(cents)


def staff_view(fields: dict[str, Any]) -> dict[str, Any]:
    """docs/api.md's visit, with its position when the script answered one."""
    return visit_json(fields, fields.get("position") and int(fields["position"]))


class DeskStore:
    """Runs desk.lua for one Redis; the app builds one in its lifespan."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self._script = redis.register_script(scripts.source("desk"))

    async def clear_flag(self, site: Site, visit_id: str, flag: str, actor: str) -> dict[str, Any]:
        if flag not in FLAG_LABELS:
            raise invalid(f"Unknown flag '{flag}'.", field="flag")
        return await self._run(site, visit_id, actor, {"op": "flag", "flag": flag})

    async def record_copay(self, site: Site, visit_id: str, amount_cents: int, method: str,
                           actor: str) -> dict[str, Any]:
        """Add a collected copay to the visit (and clear its `copay_due` flag)."""
        if method not in PAYMENT_METHODS:
            raise invalid("The payment method must be cash, card or check.", field="method")
        return await self._run(site, visit_id, actor, {
            "op": "copay", "amount_cents": amount_cents, "method": method})

    async def set_note(self, site: Site, visit_id: str, note: str, actor: str) -> dict[str, Any]:
        """Replace the visit's staff note ("" removes it)."""
        return await self._run(site, visit_id, actor, {"op": "note", "note": note})

    async def set_priority(self, site: Site, visit_id: str, priority: int,
                           actor: str) -> dict[str, Any]:
        """A waiting patient moves to their new place (keeping arrival order among equals).
        `priority` is one of PRIORITIES (app/api.py: priority_field reads it)."""
        return await self._run(site, visit_id, actor, {"op": "priority", "priority": priority})

    async def _run(self, site: Site, visit_id: str, actor: str,
                   args: dict[str, Any]) -> dict[str, Any]:
        s = site.id
        now = clock.now()
        date = clock.local_date(now, site.tz)
        base = {"visit": keys.visit(s, visit_id), "events": keys.events(s),
                "audit": keys.audit(s, date), "stats": keys.stats(s, date)}
        payload = {**scripts.common(self.settings, now, actor), "flag": "", "amount_cents": 0,
                   "method": "", "note": "", "priority": 0, "final": sorted(FINAL), **args}

        async def attempt() -> Any:
            queue = await self.redis.hget(keys.visit(s, visit_id), "queue")
            if queue is None:
                raise not_found("The visit")
            try:
                return await scripts.call(self._script,
                                          {**base, "waiting": keys.waiting(s, queue)},
                                          {**payload, "queue": queue})
            except ResponseError as exc:
                raise refusal(str(exc)) from None

        return staff_view(json.loads(await scripts.settle(attempt)))

