"""The patient's status link: genuine for its day only, and not forgeable."""

from __future__ import annotations

from app.visits.status_links import make_token, read_token

KEY = "k" * 40


def test_a_token_reads_back_its_site_and_visit_on_its_day() -> None:
    token = make_token(KEY, "demo", "ab12", "2026-11-27")
    assert read_token(KEY, token, "2026-11-27") == ("demo", "ab12")


def test_a_token_is_void_the_next_day() -> None:
    token = make_token(KEY, "demo", "ab12", "2026-11-27")
    assert read_token(KEY, token, "2026-11-28") is None


def test_a_token_signed_with_another_key_or_altered_is_refused() -> None:
    token = make_token(KEY, "demo", "ab12", "2026-11-27")
    assert read_token("x" * 40, token, "2026-11-27") is None
    assert read_token(KEY, token[:-2] + ("A" if token[-1] != "A" else "B") * 2,
                      "2026-11-27") is None
    assert read_token(KEY, "not-a-token", "2026-11-27") is None


def test_each_visit_gets_its_own_token() -> None:
    one = make_token(KEY, "demo", "ab12", "2026-11-27")
    two = make_token(KEY, "demo", "cd34", "2026-11-27")
    assert one != two
