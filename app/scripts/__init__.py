"""The Lua scripts, one file per move family; the stores register them with Redis."""

from __future__ import annotations

from pathlib import Path


def source(name: str) -> str:
    """The text of `name`.lua from this folder."""
    return (Path(__file__).parent / f"{name}.lua").read_text()
