"""The one Jinja2 environment: base layout in app/templates, screens in their packages."""

from __future__ import annotations

import contextlib
import gettext as gettext_module
import re
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.templating import Jinja2Templates

from app.visits import estimates

ROOT = Path(__file__).resolve().parent.parent

env = Environment(
    loader=FileSystemLoader([
        ROOT / "app" / "templates",
        ROOT / "displays" / "templates",
        ROOT / "kiosk" / "templates",
    ]),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    extensions=["jinja2.ext.i18n"],
)

# Translations by language code, registered by the screens that have catalogs (the kiosk).
# The language of what is being rendered now: a screen sets it for one request; anything
# rendered without it (every other screen) is English, the msgids themselves.
DEFAULT_LANGUAGE = "en"
translations: dict[str, gettext_module.NullTranslations] = {}
current_language: ContextVar[str] = ContextVar("current_language", default=DEFAULT_LANGUAGE)


def _catalog() -> gettext_module.NullTranslations:
    return translations.get(current_language.get()) or gettext_module.NullTranslations()


def gettext(message: str) -> str:
    """`message` in the current language (itself when no catalog has it)."""
    return _catalog().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _catalog().ngettext(singular, plural, n)


@contextlib.contextmanager
def language(code: str) -> Iterator[None]:
    """Render in `code` inside the block (a fragment rendered once per language)."""
    token = current_language.set(code)
    try:
        yield
    finally:
        current_language.reset(token)


# The estimate macro (estimate_macros.html) asks the maths which ranges read "No wait".
env.globals["no_wait"] = estimates.no_wait

# A wait's range with its unit at the end of its wording: "0\u201322 min" (an en dash),
# "60+ min", whatever the language's words before it.
RANGE_RE = re.compile(r"(\d+(?:\u2013\d+|\+)(?:\s|&nbsp;)+\S+)$")


def whole_range(text: Any) -> Markup:
    """A wait's wording with its range in `<span class="range">`, which a screen keeps on
    one line ("About" may wrap above it, never the range's dash away from its end)."""
    escaped = Markup.escape(text)
    return Markup(RANGE_RE.sub(r'<span class="range">\1</span>', str(escaped), count=1))


env.filters["whole_range"] = whole_range
env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]


def named(thing: Any) -> str:
    """A queue's or room's name in the language being rendered (the site's translation
    where it gives one)."""
    return thing.name_in(current_language.get())


env.globals["named"] = named

templates = Jinja2Templates(env=env)


def macro(template: str, name: str) -> Any:
    """A macro of a template, for rendering one fragment the way the page renders it."""
    return getattr(env.get_template(template).module, name)
