"""Programme KPIs per division (seed targets), rolled up the six-level division tree.

Each division's own counts (cameras, key areas, road length assigned to exactly that division)
are summed over its subtree, then turned into rates; rates are never averaged across divisions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from app.domain import division_code

COUNT_FIELDS = (
    "cameras",
    "networked",
    "hd",
    "retention_ok",
    "retention_known",  # cameras whose retention is recorded: the rate's base (unknown is not failing)
    "online_s",
    "observed_s",
    "key_areas",
    "key_area_m2",
    "key_area_covered_m2",
    "main_road_m",
)


def empty() -> dict[str, float]:
    return dict.fromkeys(COUNT_FIELDS, 0.0)


def ancestors(code: str) -> list[str]:
    """The code and every code above it, up to central."""
    out = [code]
    while (p := division_code.parent(out[-1])) is not None:
        out.append(p)
    return out


def rollup(
    own: Mapping[str, Mapping[str, float]], codes: Iterable[str], road_m: Mapping[str, float] | None = None
) -> dict[str, dict[str, float]]:
    """Subtree sums for every code in ``codes``.

    ``road_m`` gives main-road metres measured directly inside a division's own boundary; where it
    is given it replaces the sum of the children (which may not tile the parent).
    """
    codes = list(codes)
    out = {c: empty() for c in codes}
    for code, counts in own.items():
        for anc in ancestors(code):
            if anc in out:
                acc = out[anc]
                for k in COUNT_FIELDS:
                    if k != "main_road_m":
                        acc[k] += float(counts.get(k, 0.0))
    road_m = road_m or {}
    # Roads: measured where a boundary exists, else summed from the nearest measured descendants.
    for c in sorted(codes, key=division_code.level, reverse=True):
        if c in road_m:
            out[c]["main_road_m"] = float(road_m[c])
    for c in sorted(codes, key=division_code.level, reverse=True):
        if c in road_m:
            continue
        out[c]["main_road_m"] = sum(
            out[d]["main_road_m"] for d in codes if d != c and division_code.parent(d) == c
        )
    return out


def _rate(num: float, den: float) -> float | None:
    return None if den <= 0 else num / den


def rates(counts: Mapping[str, float]) -> dict[str, float | None]:
    """The six KPIs from subtree counts; None where there is nothing to measure."""
    km = counts["main_road_m"] / 1000.0
    return {
        "key_area_surface_rate": _rate(counts["key_area_covered_m2"], counts["key_area_m2"]),
        "networked_rate": _rate(counts["networked"], counts["cameras"]),
        "online_rate": _rate(counts["online_s"], counts["observed_s"]),
        "hd_rate": _rate(counts["hd"], counts["cameras"]),
        "retention_compliance_rate": _rate(counts["retention_ok"], counts.get("retention_known", 0.0)),
        "cameras_per_main_road_km": _rate(counts["cameras"], km) if km > 0 else None,
    }
