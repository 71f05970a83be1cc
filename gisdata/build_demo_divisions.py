"""Build gisdata/demo_divisions.geojson: a six-level division tree over the Helsinki extract.

Helsinki has no GB/T 2260 codes, so the demo city gets a synthetic tree in the unassigned code range
99 (a province that does not exist in GB/T 2260): the city 990100, four districts (quadrants of the
extract's road network extent), two townships per district, two communities per township — enough to
show every level of the KPI roll-up. Run: ``python gisdata/build_demo_divisions.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

from shapely.geometry import box, mapping

HERE = Path(__file__).parent
# Extent of the drivable roads of helsinki.osm.pbf, padded slightly.
W, S, E, N = 24.9340, 60.1630, 24.9545, 60.1800
DISTRICTS = [("990101", "北区", "North-West"), ("990102", "东区", "North-East"),
             ("990103", "南区", "South-West"), ("990104", "西区", "South-East")]


def feature(code: str, name: str, name_en: str, geom) -> dict:
    return {"type": "Feature", "properties": {"code": code, "name": name, "name_en": name_en},
            "geometry": mapping(geom)}


def build() -> dict:
    feats = [
        feature("000000", "中央", "Central", box(W, S, E, N)),
        feature("990000", "演示省", "Demo Province", box(W, S, E, N)),
        feature("990100", "赫尔辛基市", "Helsinki", box(W, S, E, N)),
    ]
    mx, my = (W + E) / 2, (S + N) / 2
    quads = [box(W, my, mx, N), box(mx, my, E, N), box(W, S, mx, my), box(mx, S, E, my)]
    for (code, name, name_en), q in zip(DISTRICTS, quads, strict=True):
        feats.append(feature(code, name, f"{name_en} District", q))
        x0, y0, x1, y1 = q.bounds
        halves = [box(x0, y0, (x0 + x1) / 2, y1), box((x0 + x1) / 2, y0, x1, y1)]
        for t, half in enumerate(halves, start=1):
            tcode = f"{code}{t:03d}"
            feats.append(feature(tcode, f"{name}第{t}街道", f"{name_en} Subdistrict {t}", half))
            hx0, hy0, hx1, hy1 = half.bounds
            for v, part in enumerate([box(hx0, (hy0 + hy1) / 2, hx1, hy1), box(hx0, hy0, hx1, (hy0 + hy1) / 2)], 1):
                feats.append(feature(f"{tcode}{v:03d}", f"{name}第{t}街道第{v}社区",
                                     f"{name_en} {t}-{v} Community", part))
    return {"type": "FeatureCollection", "features": feats}


if __name__ == "__main__":
    out = HERE / "demo_divisions.geojson"
    out.write_text(json.dumps(build(), ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote {out}")
