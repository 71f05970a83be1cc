"""GB/T 28181 20-digit device ids (Annex D, rule A).

digits 1–8 centre code (GB/T 2260 county code + 2-digit grass-roots unit), 9–10 industry,
11–13 type, 14 network, 15–20 serial.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from app.domain import division_code
from app.domain.errors import Conflict, InvalidInput

TYPE_NAMES = {
    111: "DVR", 112: "video server", 113: "encoder", 114: "decoder", 118: "NVR", 121: "video checkpoint",
    130: "HVR", 131: "camera", 132: "IPC", 134: "alarm input", 135: "alarm output", 138: "mobile device",
    200: "SIP server", 207: "GIS server", 215: "business group", 216: "virtual organization",
}
CAMERA_TYPES = frozenset({131, 132})
_RE = re.compile(r"^[0-9]{20}$")


@dataclass(frozen=True, slots=True)
class DeviceId:
    centre: str  # 8 digits
    industry: str  # 2 digits
    type_code: int  # 3 digits
    network: int  # 1 digit
    serial: int  # 6 digits

    @property
    def division(self) -> str:
        """The GB/T 2260 code (6 digits) of the centre."""
        return division_code.canonical(self.centre[:6]) if self.centre[:6] != "000000" else "000000"

    @property
    def domain(self) -> str:
        """SIP domain: the first ten digits."""
        return str(self)[:10]

    def __str__(self) -> str:
        return f"{self.centre}{self.industry}{self.type_code:03d}{self.network}{self.serial:06d}"


def parse(value: str) -> DeviceId:
    if not isinstance(value, str) or not _RE.match(value):
        raise InvalidInput(f"GB/T 28181 id must be exactly 20 digits: {value!r}", field="gb_id")
    return DeviceId(
        centre=value[:8],
        industry=value[8:10],
        type_code=int(value[10:13]),
        network=int(value[13]),
        serial=int(value[14:]),
    )


def validate(value: str) -> str:
    parse(value)
    return value


def centre_for(division: str, unit: str = "00") -> str:
    """8-digit centre code for a division of any level (township/village fold into their county)."""
    code6 = division_code.canonical(division).ljust(12, "0")[:6]
    if not re.fullmatch(r"[0-9]{2}", unit):
        raise InvalidInput("grass-roots unit must be 2 digits", field="unit")
    return code6 + unit


def make(division: str, type_code: int = 132, serial: int = 1, industry: str = "00", network: int = 0) -> str:
    if not (0 <= serial <= 999_999):
        raise InvalidInput("serial must be 0–999999", field="serial")
    if not (100 <= type_code <= 999) or not (0 <= network <= 9) or not re.fullmatch(r"[0-9]{2}", industry):
        raise InvalidInput("bad type, network or industry code")
    return str(DeviceId(centre_for(division), industry, type_code, network, serial))


def next_free(
    division: str, used: Iterable[str], type_code: int = 132, industry: str = "00", network: int = 0
) -> str:
    """Smallest unused serial (from 1) for this division, industry, type and network."""
    prefix = make(division, type_code, 0, industry, network)[:14]
    taken = {int(u[14:]) for u in used if u.startswith(prefix)}
    serial = 1
    while serial in taken:
        serial += 1
    if serial > 999_999:
        raise Conflict(f"no free GB/T 28181 serial left under {prefix}")
    return f"{prefix}{serial:06d}"
