"""The refusals the Lua scripts answer, as the API's errors (docs/api.md).

A script refuses with an error reply: a machine code and at most one argument ("conflict
waiting", "room_occupied 3f2a…"). Its caller raises what `refusal` makes of it. A code not
listed here is a bug in a script, not a client's mistake, and stays a 500.
"""

from __future__ import annotations

from app.errors import ApiError, invalid, not_found


def refusal(message: str) -> ApiError:
    """The ApiError for a script's refusal `message`; RuntimeError for an unknown code."""
    code, _, arg = message.partition(" ")
    if code == "not_found":
        return not_found("The visit")
    if code == "conflict":
        return ApiError(409, "conflict", f"That move is not allowed while the visit is {arg}.",
                        status=arg)
    if code == "final":
        return ApiError(409, "conflict", f"That visit is already {arg.replace('_', ' ')}.",
                        status=arg)
    if code == "flag_not_set":
        return ApiError(409, "already_done", "That flag is already cleared.")
    if code == "queue_closed":
        return ApiError(409, "queue_closed", "That queue is closed to new check-ins.")
    if code == "unknown_queue":
        return invalid("There is no such queue at this site.", field="queue")
    if code == "unknown_appointment":
        return invalid("There is no such appointment at this site; check the id, or check "
                       "the patient in without it.", field="appointment_id")
    if code == "appointment_cancelled":
        return invalid("That appointment was cancelled; check the patient in without it, or "
                       "book it again.", field="appointment_id")
    if code == "unknown_room":
        return invalid("There is no such room at this site.", field="room")
    if code == "room_occupied":
        return ApiError(409, "room_occupied", "That room already has a patient in it.",
                        visit_id=arg)
    if code == "room_closed":
        return ApiError(409, "room_closed", "That room is closed.")
    raise RuntimeError(f"unexpected script error: {message}")
