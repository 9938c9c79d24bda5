"""The per-process memory of recent reads and renders stays bounded and keeps what is used."""

from __future__ import annotations

from app.kept import Kept


def test_past_its_size_it_forgets_the_least_recently_used() -> None:
    kept: Kept[str, int] = Kept(2)
    kept.put("a", 1)
    kept.put("b", 2)
    assert kept.get("a") == 1  # "a" is now the newest
    kept.put("c", 3)
    assert (kept.get("a"), kept.get("b"), kept.get("c"), len(kept)) == (1, None, 3, 2)
    kept.drop("a")
    assert kept.get("a") is None and len(kept) == 1
