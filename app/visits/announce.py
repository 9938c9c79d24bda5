"""What the lobby says aloud when a ticket is called: the words, per language.

Pure. The server builds the sentences so every display says the same thing and a
translation is fixed in one place; the page only hands them to the browser's speech
engine. Ticket characters are read one by one ("A, 0, 4, 2"), as a person reads a ticket,
and each sentence stays short enough to finish well inside ten seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.sites import Site

DEFAULT_LANGUAGE = "en"
# Per language: the ticket, where to go (a room, a desk, a place named otherwise, or no
# place: the front desk), and the prefix of a second call.
PHRASES: dict[str, dict[str, str]] = {
    "en": {"ticket": "Ticket {ticket}", "room": "please go to room {n}.",
           "desk": "please go to desk {n}.", "named": "please go to {name}.",
           "none": "please come to the front desk.", "recall": "Second call."},
    "es": {"ticket": "Número {ticket}", "room": "pase al consultorio {n}.",
           "desk": "pase a la ventanilla {n}.", "named": "pase a {name}.",
           "none": "pase a recepción.", "recall": "Segundo llamado."},
}
LANGUAGES = tuple(PHRASES)
# "Room 3", "Exam room 12", "Desk B": the site's word, then a short number or letter.
NUMBERED = re.compile(r"^.*?\s([0-9]{1,3}|[A-Z])$")


@dataclass(frozen=True)
class Announcement:
    lang: str
    text: str  # a first call
    recall: str  # the same call made again


def language_code(value: str | None) -> str | None:
    """The supported language a code names ("es-MX" -> "es"), or None."""
    if not value:
        return None
    code = value.strip().lower().replace("_", "-").split("-")[0]
    return code if code in PHRASES else None


def site_language(site: Site) -> str:
    """The site's main language (`language = "es"` in its configuration), English when it
    names none or one the announcements do not speak."""
    return language_code(site.language) or DEFAULT_LANGUAGE


def spell(ticket: str) -> str:
    """"A042" -> "A, 0, 4, 2": the speech engine then reads each character alone."""
    return ", ".join(ch for ch in ticket if not ch.isspace())


def sentence(lang: str, ticket: str, room_name: str | None, room_kind: str | None) -> str:
    """One language's call: "Ticket A, 0, 4, 2, please go to room 3."."""
    words = PHRASES[lang]
    if not room_name:
        where = words["none"]
    else:
        match = NUMBERED.match(room_name)
        if match and room_kind in ("room", "desk"):
            where = words[room_kind].format(n=match.group(1))
        else:
            where = words["named"].format(name=room_name)
    return f"{words['ticket'].format(ticket=spell(ticket))}, {where}"


def announcements(site_lang: str, patient_lang: str | None, ticket: str,
                  room_name: str | None, room_kind: str | None,
                  room_names: tuple[tuple[str, str], ...] = ()) -> tuple[Announcement, ...]:
    """The call in the site's language, then in the patient's when it is another one the
    announcements speak; each names the room as the site translates it into that language
    (`room_names`, the room's `names`), if it does."""
    langs = [site_lang]
    other = language_code(patient_lang)
    if other and other != site_lang:
        langs.append(other)
    out = []
    for lang in langs:
        # A name the site translates is said as written ("pase a Sillón 3"); otherwise a
        # numbered room takes the language's word for its kind ("consultorio 3").
        own = dict(room_names).get(lang) if room_name else None
        text = sentence(lang, ticket, own or room_name, None if own else room_kind)
        out.append(Announcement(lang, text, f"{PHRASES[lang]['recall']} {text}"))
    return tuple(out)
