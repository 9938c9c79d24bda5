"""The one Jinja2 environment: base layout in app/templates, screens in their packages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.templating import Jinja2Templates

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
)

templates = Jinja2Templates(env=env)


def macro(template: str, name: str) -> Any:
    """A macro of a template, for rendering one fragment the way the page renders it."""
    return getattr(env.get_template(template).module, name)
