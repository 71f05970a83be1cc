"""GB/T 28181 devices admitted to register: kinds, the digest credential (HA1) and the edition. Pure."""

from __future__ import annotations

import hashlib

from app.domain import gb28181_id

# "platform": a lower platform (下级, GB/T 28181 cascade) whose catalog relays other devices' channels.
KINDS = ("ipc", "nvr", "dvr", "encoder", "mobile", "platform")
EDITIONS = ("2016", "2022")
# Type code (digits 11–13 of the id) → kind; anything else registering by itself is taken for a camera.
_KIND_OF_TYPE = {111: "dvr", 130: "dvr", 112: "encoder", 113: "encoder", 118: "nvr", 138: "mobile",
                 200: "platform"}


def kind_for(gb_id: str) -> str:
    """The kind a device's id suggests (an administrator may say otherwise)."""
    return _KIND_OF_TYPE.get(gb28181_id.parse(gb_id).type_code, "ipc")


def ha1(gb_id: str, realm: str, password: str) -> str:
    """MD5(username:realm:password): all digest authentication needs, so the password is never stored.
    The realm is the SIP domain: changing the domain setting invalidates every stored HA1."""
    return hashlib.md5(f"{gb_id}:{realm}:{password}".encode()).hexdigest()


def edition(x_gb_ver: str | None) -> str:
    """GB/T 28181-2022 devices send ``X-GB-Ver: 3.0`` with REGISTER (2016: 2.0, or nothing)."""
    try:
        return "2022" if float((x_gb_ver or "").strip()) >= 3 else "2016"
    except ValueError:
        return "2016"
