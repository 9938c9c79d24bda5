"""Text from outside (API bodies, appointment imports, device names): what is refused.

Refused: control characters (C0, DEL, C1: a name with a line break or an escape sequence
would break the board, the lobby and the audit CSV), the bidirectional embedding, override
and isolate controls (U+202A-U+202E, U+2066-U+2069: a name holding U+202E displays
reversed, so a board could show other letters than it holds), and unpaired surrogates.
JSON can spell a character that does not exist ("\\ud800"); Python decodes it, but it cannot
be written as UTF-8, so it would fail where the text is stored. Format characters such as
the zero-width non-joiner, which Persian names need, are text and are kept."""

from __future__ import annotations

import unicodedata
from typing import Any

REFUSED_CATEGORIES = ("Cc", "Cs")
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def refused_character(text: str) -> bool:
    """Whether `text` holds a control character, a bidirectional control or an unpaired
    surrogate."""
    if text.isprintable():  # the common case, answered in C (bidi controls are Cf,
        return False        # which Python does not count as printable)
    return any(unicodedata.category(ch) in REFUSED_CATEGORIES or ch in BIDI_CONTROLS
               for ch in text)


def unpaired_surrogate(value: Any) -> bool:
    """Whether any string in a parsed JSON value (keys included) holds an unpaired
    surrogate, which UTF-8 cannot carry. Walks without recursion: JSON nested as deep as
    the parser allows must not exhaust the stack here."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and any("\ud800" <= ch <= "\udfff" for ch in item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
