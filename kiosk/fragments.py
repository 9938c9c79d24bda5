"""What the kiosk socket receives: queue lengths and estimates, from the lobby-safe view."""

from __future__ import annotations

from app.lobby import lobby_view
from app.state import SiteState
from app.templating import macro


def kiosk(state: SiteState) -> dict[str, str]:
    return {"kiosk-queues": str(macro("kiosk_macros.html", "queues")(lobby_view(state)))}
