"""Reading what a Lobbyline WebSocket sends: the WebSocket frames in the bytes a raw client
received, and the htmx fragments in a screen frame. Only the standard library, so that
both the benchmarks and the tests use this one copy."""

from __future__ import annotations

import struct
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser

VOID = frozenset(("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                  "source", "track", "wbr"))


class _TopLevel(HTMLParser):
    """The top-level elements of a fragment frame: their ids in order, and the text (and
    attribute values) inside each, by id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.current = ""
        self.ids: list[str] = []
        self.parts: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth == 0:
            self.current = dict(attrs).get("id") or ""
            self.ids.append(self.current)
        self.parts.setdefault(self.current, []).extend(v for _, v in attrs if v)
        if tag not in VOID:
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self.depth > 0:
            self.depth -= 1
            if self.depth == 0:
                self.current = ""

    def handle_data(self, data: str) -> None:
        self.parts.setdefault(self.current, []).append(data)


def _parse(html: str) -> _TopLevel:
    parser = _TopLevel()
    parser.feed(html)
    parser.close()
    return parser


def top_level_ids(html: str) -> list[str]:
    """The ids of a fragment frame's top-level elements ("" for one without): what htmx
    swaps out of band."""
    return _parse(html).ids


def fragment_texts(html: str) -> dict[str, str]:
    """Each top-level element's text and attribute values, joined by spaces, by its id."""
    return {k: " ".join(p) for k, p in _parse(html).parts.items()}


@dataclass
class Message:
    at: float          # perf_counter() when the message's last byte arrived
    opcode: int
    payload: bytes


def parse_frames(chunks: Sequence[tuple[float, bytes]]) -> tuple[list[Message], int]:
    """Reassemble server frames from timestamped chunks; answers the complete messages
    (control frames included) and how many bytes were left over at the end."""
    data = b"".join(c for _, c in chunks)
    ends: list[int] = []
    total = 0
    for _, c in chunks:
        total += len(c)
        ends.append(total)
    out: list[Message] = []
    pos, n = 0, len(data)
    parts: list[bytes] = []
    first_opcode = 0
    while pos + 2 <= n:
        b0, b1 = data[pos], data[pos + 1]
        length = b1 & 0x7F
        head = 2
        if length == 126:
            if pos + 4 > n:
                break
            length = struct.unpack_from("!H", data, pos + 2)[0]
            head = 4
        elif length == 127:
            if pos + 10 > n:
                break
            length = struct.unpack_from("!Q", data, pos + 2)[0]
            head = 10
        if b1 & 0x80:
            head += 4  # a server never masks, but skip a mask if one came
        end = pos + head + length
        if end > n:
            break
        payload = data[pos + head:end]
        opcode, fin = b0 & 0x0F, b0 & 0x80
        at = chunks[bisect_left(ends, end)][0]
        if opcode >= 0x8:
            out.append(Message(at, opcode, payload))
        elif opcode == 0:
            parts.append(payload)
            if fin:
                out.append(Message(at, first_opcode, b"".join(parts)))
                parts = []
        elif fin:
            out.append(Message(at, opcode, payload))
        else:
            first_opcode, parts = opcode, [payload]
        pos = end
    return out, n - pos
