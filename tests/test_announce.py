"""The spoken call: the words each language says, built on the server."""

from __future__ import annotations

import pytest

from app.sites import SiteError, site_from_dict
from app.visits.announce import announcements, language_code, sentence, site_language, spell


def test_a_ticket_is_read_one_character_at_a_time():
    assert spell("A042") == "A, 0, 4, 2"


def test_english_and_spanish_name_the_room_by_its_number():
    assert sentence("en", "A042", "Room 3", "room") == "Ticket A, 0, 4, 2, please go to room 3."
    assert sentence("es", "A042", "Room 3", "room") == \
        "Número A, 0, 4, 2, pase al consultorio 3."
    assert sentence("en", "B007", "Desk 2", "desk") == "Ticket B, 0, 0, 7, please go to desk 2."
    assert sentence("es", "B007", "Desk 2", "desk") == \
        "Número B, 0, 0, 7, pase a la ventanilla 2."


def test_a_room_without_a_number_is_named_and_no_room_means_the_front_desk():
    assert sentence("en", "C001", "Radiology", "room") == \
        "Ticket C, 0, 0, 1, please go to Radiology."
    assert sentence("en", "C001", None, None) == "Ticket C, 0, 0, 1, please come to the front desk."
    assert sentence("es", "C001", None, None) == "Número C, 0, 0, 1, pase a recepción."


def test_the_site_language_comes_first_then_the_patients_when_it_differs():
    both = announcements("en", "es-MX", "A042", "Room 3", "room")
    assert [a.lang for a in both] == ["en", "es"]
    assert both[1].recall == "Segundo llamado. Número A, 0, 4, 2, pase al consultorio 3."
    assert [a.lang for a in announcements("en", "en", "A042", "Room 3", "room")] == ["en"]
    assert [a.lang for a in announcements("es", "", "A042", "Room 3", "room")] == ["es"]


def test_a_language_the_announcements_do_not_speak_is_left_out():
    assert [a.lang for a in announcements("en", "tlh", "A042", None, None)] == ["en"]
    assert language_code("ES_us") == "es" and language_code("") is None


def test_each_sentence_is_short_enough_to_finish_inside_ten_seconds():
    # ~2.5 words a second at rate 0.9: a long room name still fits.
    for a in announcements("en", "es", "AB123", "Exam room 12", "room"):
        assert len(a.recall.split()) <= 20


def test_the_site_language_is_read_from_its_configuration():
    site = site_from_dict({"id": "s", "language": "es",
                           "queues": [{"id": "q", "name": "Q", "prefix": "A"}]})
    assert site_language(site) == "es"
    plain = site_from_dict({"id": "s", "queues": [{"id": "q", "name": "Q", "prefix": "A"}]})
    assert site_language(plain) == "en"


def test_a_site_language_that_is_not_a_language_code_is_refused_at_load():
    with pytest.raises(SiteError, match="language"):
        site_from_dict({"id": "s", "language": "Spanish please",
                        "queues": [{"id": "q", "name": "Q", "prefix": "A"}]})
