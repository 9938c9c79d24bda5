"""The kiosk's languages: one gettext catalog per language under kiosk/locale.

Adding a language is adding `kiosk/locale/<code>/LC_MESSAGES/messages.po`: the catalogs are
compiled in memory when the app starts (no .mo files to keep in step), and the kiosk offers
every language it finds, each named in its own words.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from app import templating

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"


def compile_catalog(po_path: Path) -> gettext.GNUTranslations:
    """One .po file as a gettext catalog, compiled in memory; fuzzy entries are left out,
    as `msgfmt` would."""
    with po_path.open("rb") as f:
        catalog = read_po(f)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def load(locale_dir: Path = LOCALE_DIR) -> dict[str, str]:
    """Register every catalog with the templates; answers {code: name in that language},
    English first."""
    found: dict[str, str] = {}
    for po in sorted(locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        code = po.parent.parent.name
        templating.translations[code] = compile_catalog(po)
        name = Locale.parse(code).get_display_name(code) or code
        found[code] = name[:1].upper() + name[1:]
    default = templating.DEFAULT_LANGUAGE
    return dict(sorted(found.items(), key=lambda item: (item[0] != default, item[0])))


LANGUAGES = load()


def language_or_default(code: str | None) -> str:
    """`code` if the kiosk has it, else the default language."""
    return code if code in LANGUAGES else templating.DEFAULT_LANGUAGE


def in_language(code: str, render: Callable[..., Any], *args: Any) -> Any:
    """`render(*args)` (a template macro) in the language `code`: the kiosk socket's
    fragments carry every language, and the page shows the one the patient chose."""
    with templating.language(code):
        return render(*args)


templating.env.globals["in_language"] = in_language
templating.env.globals["kiosk_languages"] = LANGUAGES
