"""Short codes a person reads and types: appointment confirmation codes and device
pairing codes share one alphabet, one generator and one way of reading what was typed."""

from __future__ import annotations

import secrets

# No 0/O or 1/I: a code read aloud or off a crumpled reminder must not be ambiguous.
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_code(length: int) -> str:
    """A random code of `length` characters from ALPHABET (cryptographically random)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def code_from_bytes(data: bytes) -> str:
    """A code with one ALPHABET character per byte of `data`: stable for the same bytes."""
    return "".join(ALPHABET[b % len(ALPHABET)] for b in data)


def normalise(code: str) -> str:
    """A code as typed or scanned, in the form it is stored in: upper case, with spaces,
    dashes and other separators dropped."""
    return "".join(ch for ch in code.upper() if ch.isalnum())
