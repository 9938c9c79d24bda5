"""Codes a person reads and types: one alphabet, one way of reading what was typed."""

from __future__ import annotations

from app.access import auth, codes
from app.appointments import demo, model


def test_codes_avoid_characters_that_read_alike():
    made = "".join(codes.new_code(8) for _ in range(300))
    assert not set(made) & set("0O1I")
    assert set(made) <= set(codes.ALPHABET)


def test_a_code_typed_with_spaces_dashes_and_lower_case_reads_as_stored():
    assert codes.normalise(" ab-cd 23x\n") == "ABCD23X"


def test_pairing_and_confirmation_codes_share_the_alphabet_and_the_reading():
    assert model.CODE_ALPHABET == codes.ALPHABET
    assert model.normalise_code("k7-mp 9q") == codes.normalise("k7-mp 9q") == "K7MP9Q"
    assert len(model.new_code()) == model.CODE_LENGTH
    assert auth.PAIRING_LENGTH == 8


def test_demo_codes_are_stable_for_the_day_and_use_the_alphabet():
    first = demo._code("demo", "2026-11-27", 3)
    assert first == demo._code("demo", "2026-11-27", 3) != demo._code("demo", "2026-11-27", 4)
    assert set(first) <= set(codes.ALPHABET) and len(first) == model.CODE_LENGTH
