"""Every refusal a visit's script can answer reaches the client as a clear 4xx, never as
a 500: a new refusal code in a script without its error here fails this test."""

from __future__ import annotations

import re

import pytest

from app.errors import ApiError
from app.storage.refusals import refusal
from app.storage.scripts import HERE

# The scripts whose refusals the Store and the desk's records turn into API errors.
SCRIPTS = ("checkin", "move", "desk", "queue", "room")
BUGS = {"unknown_op"}  # a caller sent an operation the script lacks: a bug, not a refusal


def codes() -> set[str]:
    found = set()
    for name in SCRIPTS:
        found |= set(re.findall(r'error_reply\("([a-z_]+)', (HERE / f"{name}.lua").read_text()))
    return found - BUGS


@pytest.mark.parametrize("code", sorted(codes()))
def test_every_refusal_of_a_visits_script_is_a_4xx_with_its_own_message(code: str) -> None:
    error = refusal(f"{code} waiting")
    assert isinstance(error, ApiError)
    assert 400 <= error.status_code < 500
    assert error.detail and "unexpected" not in error.detail


def test_a_refusal_code_no_script_has_stays_a_server_error() -> None:
    with pytest.raises(RuntimeError):
        refusal("unknown_op frobnicate")
