"""What the kiosk socket receives: each open queue's wait, and the walk-in's choice of
service, from the lobby-safe view, in every language the kiosk has (the page shows the
one its patient chose)."""

from __future__ import annotations

from app.templating import macro
from app.visits.lobby import lobby_view
from app.visits.state import SiteState
from kiosk import i18n  # noqa: F401  (registers the catalogs the fragments are drawn in)
from kiosk.session import cookie_path


def kiosk(state: SiteState) -> dict[str, str]:
    view = lobby_view(state)
    base = cookie_path(state.site.id)
    return {
        "kiosk-queues": str(macro("kiosk_macros.html", "queues")(view, oob=True)),
        "kiosk-services": str(macro("kiosk_macros.html", "services")(view, base, oob=True)),
    }
