"""The estimate maths, on hand-made service records (pure: no Redis)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.visits import estimates
from app.visits.estimates import Service, model
from app.visits.state import QueueState

MIN = 60_000
NOON = 1_796_558_400_000  # 2026-12-07 12:00 UTC


def finished(n: int, minutes: float, server: str = "r1", end: int = NOON) -> list[Service]:
    """`n` services of `minutes` each at `server`, back to back, the last ending at `end`."""
    out = []
    for i in range(n):
        stop = end - int(i * minutes * MIN)
        out.append(Service(f"v{server}{i}", server, stop - int(minutes * MIN), stop))
    return out


def test_cold_start_uses_the_configured_default_and_says_so() -> None:
    m = model([], NOON, default_minutes=10)
    assert (m.minutes, m.learned, m.servers) == (10, False, 0)


def test_learned_service_time_replaces_the_default() -> None:
    m = model(finished(10, 6), NOON, default_minutes=20)
    assert m.learned
    assert round(m.minutes, 6) == 6
    assert m.servers == 1


def test_one_very_long_service_barely_moves_the_typical_time() -> None:
    record = [*finished(19, 5), Service("long", "r1", NOON - 300 * MIN, NOON - 180 * MIN)]
    m = model(record, NOON, default_minutes=5)
    assert m.minutes < 5.5  # a plain mean would say 10.75


def test_the_hours_history_over_the_days_wins_when_it_has_enough() -> None:
    # Today's record: 4-minute services. This hour, over the last days: 7 minutes.
    today = finished(10, 4)
    hour = (7.0,) * estimates.HOUR_SAMPLES
    m = model(today, NOON, default_minutes=4, history=hour)
    assert round(m.minutes, 6) == 7 and m.learned
    assert m.servers == 1  # who serves now still comes from the record
    too_few = model(today, NOON, default_minutes=4, history=hour[1:])
    assert round(too_few.minutes, 6) == 4


def test_the_history_alone_replaces_the_default_at_opening() -> None:
    # The first patient of the day: nothing in today's record, a history of 12 minutes.
    m = model([], NOON, default_minutes=5, history=(12.0,) * 20)
    assert (round(m.minutes, 6), m.learned, m.servers) == (12, True, 0)
    first = estimates.etas(m, 1)[0]
    assert first["low"] <= 12 <= first["high"]  # nobody serving yet: after one service


def test_the_stored_history_is_seconds_newest_first() -> None:
    assert estimates.parse_history(["600", "90", "x", ""]) == (10.0, 1.5)


def test_servers_are_those_busy_now_and_those_that_finished_recently() -> None:
    record = [
        Service("a", "room1", NOON - 3 * MIN),  # under way
        Service("b", "room2", NOON - 10 * MIN, NOON - 2 * MIN),  # just freed
        Service("c", "room3", NOON - 200 * MIN, NOON - 192 * MIN),  # long gone home
        *finished(5, 8, "room2", end=NOON - 10 * MIN),
    ]
    m = model(record, NOON, default_minutes=8)
    assert m.servers == 2
    assert m.busy_remaining == (5.0,)  # 8 typical, 3 gone


def test_a_free_server_means_no_wait_for_the_next_patient() -> None:
    freed = Service("b", "room2", NOON - 10 * MIN, NOON - 2 * MIN)
    record = [freed, *finished(5, 8, "room2", end=NOON - 10 * MIN)]
    m = model(record, NOON, default_minutes=8)
    first, second = estimates.etas(m, 2)
    assert estimates.no_wait(**first)
    assert second["low"] <= 8 <= second["high"]  # after one service of ~8 minutes


def test_waits_grow_with_position_and_shrink_with_servers() -> None:
    one = model(finished(10, 10, "r1"), NOON, default_minutes=10)
    two = model(finished(10, 10, "r1") + finished(10, 10, "r2"), NOON, default_minutes=10)
    assert estimates.expected_waits(one, 4) == [0, 10, 20, 30]
    assert estimates.expected_waits(two, 4) == [0, 0, 10, 10]
    far_one, far_two = estimates.etas(one, 6)[-1], estimates.etas(two, 6)[-1]
    assert far_two["high"] < far_one["low"]


def test_one_positions_range_is_the_same_read_alone() -> None:
    """A check-in answers its own position's range without working out every one ahead."""
    one = model(finished(10, 10, "r1"), NOON, default_minutes=10)
    cold = model((), NOON, default_minutes=10)
    for m in (one, cold):
        ranges = estimates.etas(m, 40)
        assert [estimates.eta_at(m, p) for p in range(1, 41)] == ranges


def test_the_range_widens_further_back_in_line() -> None:
    record = [Service(f"v{i}", "r1", NOON - (i + 1) * 8 * MIN, NOON - i * 8 * MIN - i * MIN)
              for i in range(12)]
    m = model(record, NOON, default_minutes=8)
    widths = [e["high"] - e["low"] for e in estimates.etas(m, 8)]
    assert widths[-1] > widths[1]


def test_a_closed_room_serves_nobody_new_but_a_patient_in_it_keeps_it_busy() -> None:
    record = [
        Service("a", "room1", NOON - 3 * MIN),  # under way, then the room closes
        Service("b", "room2", NOON - 10 * MIN, NOON - 2 * MIN),  # freed, then closed
        *finished(5, 8, "room3", end=NOON - 5 * MIN),
    ]
    m = model(record, NOON, default_minutes=8, closed=["room1", "room2"])
    assert (m.servers, m.busy_remaining) == (2, (5.0,))  # room1 busy, room3 free


def test_a_queue_nobody_serves_never_says_no_wait() -> None:
    # A record from this morning only: nobody has served the queue for hours.
    m = model(finished(10, 5, end=NOON - 4 * 60 * MIN), NOON, default_minutes=5)
    assert m.servers == 0
    first = estimates.etas(m, 1)[0]
    assert not estimates.no_wait(**first)
    assert first["low"] <= 5 <= first["high"]


def test_a_patient_sent_back_frees_the_server_but_teaches_nothing() -> None:
    record = [Service("a", "r1", NOON - 30 * MIN, NOON - MIN, counted=False)]
    m = model(record + finished(5, 6, "r1", end=NOON - 40 * MIN), NOON, default_minutes=6)
    assert m.busy_remaining == ()
    assert round(m.minutes, 6) == 6


def test_the_stored_record_is_read_newest_first_with_ends_merged_into_starts() -> None:
    entries = [
        f"s|{NOON}|room1|c",
        f"e|{NOON - 9 * MIN}|{NOON - MIN}|room2|b",
        f"x|{NOON - 20 * MIN}|{NOON - 15 * MIN}|desk|a",
        f"s|{NOON - 9 * MIN}|room2|b",
        f"s|{NOON - 20 * MIN}|desk|a",
        "garbage", "s|notanumber|room|z",
    ]
    assert estimates.parse_record(entries) == (
        Service("c", "room1", NOON),
        Service("b", "room2", NOON - 9 * MIN, NOON - MIN),
        Service("a", "desk", NOON - 20 * MIN, NOON - 15 * MIN, counted=False),
    )


def test_classic_is_position_times_average_over_servers() -> None:
    assert estimates.classic(6, 10, 3) == 20
    assert estimates.classic(2, 10, 0) == 20


# Staffing: who served the queue at which hour on the last earlier day.

TODAY = datetime(2026, 12, 7, 11, 30)
STAFFING = {  # yesterday: three rooms at 11:00, one over lunch, three from 13:00
    **{f"{h}|room{r}": "2026-12-06," for h in ("11", "13") for r in (1, 2, 3)},
    "11|room1": "2026-12-07,2026-12-06",  # today too: yesterday's still counts
    "12|room2": "2026-12-06,2026-12-04",
    "12|room1": "2026-11-30,",  # a week ago someone else stayed: not the last day
    "14|room1": "2026-12-07,",  # today's own: not an earlier day
}


def test_the_last_days_staffing_says_when_servers_leave_and_come_back() -> None:
    assert estimates.staffing_changes(STAFFING, TODAY) == ((30.0, -2), (90.0, 2))
    # Nothing known after 13:00 (today's 14:00 does not count): no forecast past it.
    assert estimates.staffing_changes(STAFFING, TODAY.replace(hour=13)) == ()
    assert estimates.staffing_changes({}, TODAY) == ()


def test_servers_leaving_for_lunch_finish_their_patient_and_take_no_other() -> None:
    four = estimates.QueueModel(4, (), 10.0, 2.0, True)
    assert estimates.expected_waits(four, 8) == [0, 0, 0, 0, 10, 10, 10, 10]
    lunch = replace(four, changes=((5.0, -2),))
    assert estimates.expected_waits(lunch, 8) == [0, 0, 0, 0, 10, 10, 20, 20]
    back = replace(four, changes=((5.0, -2), (15.0, 2)))
    assert estimates.expected_waits(back, 8) == [0, 0, 0, 0, 10, 10, 15, 15]
    # The last server never leaves.
    alone = estimates.QueueModel(1, (), 10.0, 2.0, True, ((5.0, -3),))
    assert estimates.expected_waits(alone, 3) == [0, 10, 20]


def _one_at_a_time(m: estimates.QueueModel, count: int) -> list[float]:
    """The waits as a person at the desk would work them out: patient by patient, each
    taking the server free soonest, servers leaving and coming at each change."""
    free = [m.minutes] if m.servers == 0 else (
        [0.0] * max(m.servers - len(m.busy_remaining), 0) + list(m.busy_remaining))
    changes, leaving, waits = list(m.changes) if m.servers else [], 0, []
    while len(waits) < count:
        free.sort()
        start = free.pop(0)
        if changes and changes[0][0] <= start:
            at, delta = changes.pop(0)
            free.append(start)
            back = min(leaving, max(delta, 0))
            leaving += back - delta if delta < 0 else -back
            free += [max(at, 0.0)] * (max(delta, 0) - back)
        elif leaving and free:
            leaving -= 1
        else:
            waits.append(start)
            free.append(start + m.minutes)
    return waits


@given(servers=st.integers(0, 6),
       busy=st.lists(st.floats(0.25, 90, allow_nan=False), max_size=6),
       minutes=st.floats(0.5, 40, allow_nan=False),
       changes=st.lists(st.tuples(st.floats(0, 240, allow_nan=False), st.integers(-4, 4)),
                        max_size=4),
       count=st.integers(1, 120))
@settings(max_examples=300, deadline=None)
def test_a_long_line_is_worked_out_in_rounds_with_the_same_waits(
        servers: int, busy: list[float], minutes: float,
        changes: list[tuple[float, int]], count: int) -> None:
    """Past the last staffing change, the servers take patients in turn: the quick way to
    the back of a long line gives every position the wait a patient-by-patient walk does."""
    m = estimates.QueueModel(servers, tuple(sorted(busy[:servers])), minutes, 1.0, True,
                             tuple(sorted(c for c in changes if c[1])))
    slow = _one_at_a_time(m, count)
    assert estimates.expected_waits(m, count) == pytest.approx(slow)
    assert estimates.expected_wait(m, count) == pytest.approx(slow[-1])


def test_the_back_of_a_very_long_line_gets_the_rounds_wait() -> None:
    """Position 100,000 (a flood of check-ins) is worked out from the steady rounds: four
    servers after the changes, ten minutes a round of four."""
    m = estimates.QueueModel(3, (4.0, 9.0), 10.0, 2.0, True, ((30.0, -1), (90.0, 2)))
    far = estimates.expected_wait(m, 100_000)
    assert far == pytest.approx(_one_at_a_time(m, 2_000)[-1] + (100_000 - 2_000) / 4 * 10)


def test_a_screen_shows_the_wait_behind_a_long_line_as_walking_every_place_would():
    """The lobby's "check in now" wait of a queue listing 3 of its 5,000: the same range as
    the first 5,001 waits worked out one by one give."""
    m = estimates.QueueModel(2, (3.0,), 8.0, 2.0, True, ((45.0, 1),))
    listed = tuple({"id": f"v{i}", "ticket": f"A{i:03}"} for i in range(3))
    queue = QueueState("reg", "Registration", "A", True, listed, m, total=5000)
    walked = estimates.expected_waits(m, 5001)
    assert queue.eta(5001) == estimates.eta_range(m, 5001, walked[-1])
    assert queue.eta(2) == estimates.eta_range(m, 2, walked[1])
