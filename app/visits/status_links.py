"""The patient's own status page link (`/t/{token}`, the ticket's QR code).

The token is the visit's id and its local day, signed with SECRET_KEY: unguessable without
the key, nothing stored for it, and void once the site's day is over. It names no person,
so a photographed ticket reveals nothing but a place in the line.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "status-link"


def make_token(secret_key: str, site_id: str, visit_id: str, date: str) -> str:
    """The token for one visit on its local day (YYYY-MM-DD)."""
    return URLSafeSerializer(secret_key, salt=SALT).dumps([site_id, visit_id, date])


def read_token(secret_key: str, token: str, today: str) -> tuple[str, str] | None:
    """(site id, visit id) for a genuine token of `today`; None for anything else."""
    try:
        value = URLSafeSerializer(secret_key, salt=SALT).loads(token)
    except BadSignature:
        return None
    if (not isinstance(value, list) or len(value) != 3
            or not all(isinstance(part, str) for part in value)):
        return None
    site_id, visit_id, date = value
    return (site_id, visit_id) if date == today else None
