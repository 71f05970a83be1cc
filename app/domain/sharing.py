"""What a lower platform shares with an upper one (GB/T 28181 cascade) and how its directory looks there.

Pure: the sharing rule (division subtrees, a secrecy ceiling, optionally camera classes and kinds) decides
camera by camera; the directory is a business group (type 215, under the platform's own id) holding one
virtual organisation (type 216) per shared division, nested as the division tree, with each camera under
its division's node. Ids derived here are stable (the upper keeps them between catalog queries).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.domain import division_code

PTZ_TYPE = {"ptz": "1", "dome": "2", "fixed": "3"}  # GB/T 28181 PTZType: 1 球机, 2 半球, 3 固定枪机


@dataclass(frozen=True, slots=True)
class SharingRule:
    divisions: tuple[str, ...]  # subtree roots; none = nothing shared
    max_secrecy: int = 0
    classes: frozenset[int] | None = None  # camera classes 1–3 (一类/二类/三类); None = every class
    kinds: frozenset[str] | None = None  # fixed | ptz | dome; None = every kind

    @property
    def prefixes(self) -> tuple[str, ...]:
        """The shared subtrees as code prefixes ('' = everywhere), the narrower ones inside wider dropped."""
        ps = {division_code.subtree_prefix(d) for d in self.divisions}
        return tuple(sorted(p for p in ps if not any(p != q and p.startswith(q) for q in ps)))

    def covers_division(self, division: str | None) -> bool:
        if division is None:
            return False
        full = division.ljust(12, "0")
        return any(full.startswith(p) for p in self.prefixes)

    def shares(self, division: str | None, secrecy: int, cls: int | None, kind: str | None) -> bool:
        """Whether a camera goes upstream: in a shared subtree, at most the ceiling, of a shared class/kind."""
        if not self.covers_division(division) or secrecy > self.max_secrecy:
            return False
        if self.classes is not None and cls not in self.classes:
            return False
        return self.kinds is None or kind in self.kinds


@dataclass(frozen=True, slots=True)
class Division:
    code: str
    name: str
    parent_code: str | None


@dataclass(frozen=True, slots=True)
class Camera:
    id: int
    gb_id: str | None
    name: str
    division_code: str | None
    secrecy: int
    cls: int
    kind: str
    status: str
    lon: float | None
    lat: float | None
    owner: str | None = None
    manufacturer: str | None = None
    model: str | None = None


def civil_code(division: str) -> str:
    """The ≤ 8-digit CivilCode of a division: 2 digits for a province, 4 for a city, 6 from a county down
    (GB/T 2260 has no township digits in the 8-digit form)."""
    lvl = division_code.level(division)
    full = division.ljust(12, "0")
    return full[:2] if lvl == 2 else full[:4] if lvl == 3 else full[:6]


def business_group_id(local_id: str) -> str:
    """The platform's one business group (215): its domain, type 215, serial 1."""
    return f"{local_id[:10]}215{local_id[13]}000001"


def organisation_id(local_id: str, division: str) -> str:
    """A division's virtual organisation (216): the 12-digit code split over the centre (8) and serial
    (last 4, zero-padded), the platform's industry and network digits: unique per division, stable."""
    full = division.ljust(12, "0")
    return f"{full[:8]}{local_id[8:10]}216{local_id[13]}{full[8:12].rjust(6, '0')}"


def camera_id(local_id: str, cam: Camera) -> str:
    """The camera's own 20-digit id, or one derived from its row id (type 131) when it has none."""
    if cam.gb_id and len(cam.gb_id) == 20 and cam.gb_id.isdigit():
        return cam.gb_id
    return f"{local_id[:10]}131{local_id[13]}{cam.id % 1_000_000:06d}"


def shared_cameras(rule: SharingRule, cameras: Iterable[Camera]) -> list[Camera]:
    return [c for c in cameras if rule.shares(c.division_code, c.secrecy, c.cls, c.kind)]


def directory(rule: SharingRule, local_id: str, platform_name: str, divisions: Iterable[Division],
              cameras: Iterable[Camera]) -> list[dict[str, str | dict[str, str]]]:
    """The catalog an upper platform gets: business group, the shared divisions as virtual organisations
    (parents before children), then every shared camera; each an ordered dict of Item fields."""
    bg = business_group_id(local_id)
    shared_divs = sorted((d for d in divisions if rule.covers_division(d.code)),
                         key=lambda d: (division_code.level(d.code), d.code))
    in_tree = {d.code for d in shared_divs}
    names = {d.code: d.name for d in shared_divs}
    items: list[dict[str, str | dict[str, str]]] = [{
        "DeviceID": bg, "Name": platform_name, "CivilCode": civil_code(shared_divs[0].code) if shared_divs else "",
        "ParentID": local_id,
    }]
    for d in shared_divs:
        parent = organisation_id(local_id, d.parent_code) if d.parent_code in in_tree else bg
        items.append({"DeviceID": organisation_id(local_id, d.code), "Name": d.name,
                      "ParentID": parent, "BusinessGroupID": bg})
    for c in shared_cameras(rule, cameras):
        item: dict[str, str | dict[str, str]] = {
            "DeviceID": camera_id(local_id, c), "Name": c.name,
            "Manufacturer": c.manufacturer or "SharpEyes", "Model": c.model or "camera",
            "Owner": c.owner or "0", "CivilCode": civil_code(c.division_code or "000000"),
            "Address": names.get(c.division_code or "", c.name), "Parental": "0",
            "ParentID": organisation_id(local_id, c.division_code) if c.division_code in in_tree else bg,
            "SafetyWay": "0", "RegisterWay": "1", "Secrecy": str(c.secrecy),
            "Status": "ON" if c.status == "online" else "OFF",
        }
        if c.lon is not None and c.lat is not None:
            item["Longitude"], item["Latitude"] = f"{c.lon:.7f}", f"{c.lat:.7f}"
        item["Info"] = {"PTZType": PTZ_TYPE.get(c.kind, "3"), "BusinessGroupID": bg}
        items.append(item)
    return items
