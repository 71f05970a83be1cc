"""Load divisions (GeoJSON) and cameras (CSV or GeoJSON with a column map), in WGS-84, GCJ-02 or BD-09.

Each file loads in the caller's transaction: bad rows are reported with their line (or feature) number
and skipped; a file that cannot be read as a whole raises FileRejected and the caller rolls back.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import shapely
from shapely.geometry import shape
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import Camera, CameraStatusEvent, Division
from app.domain import camera_view, crs, division_code, gb28181_id
from app.domain.errors import InvalidInput
from app.services.loaders.assign import allocate_gb_ids, division_lookup
from app.services.loaders.report import FileRejected, LoadReport

CODE_KEYS = ("code", "adcode", "division_code", "gb2260")
NAME_KEYS = ("name", "name_zh")


def _read_geojson(path: Path) -> list[dict]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileRejected(f"{path}: not readable GeoJSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise FileRejected(f"{path}: expected a GeoJSON FeatureCollection")
    return doc["features"]


def _first(props: dict, keys: tuple[str, ...], override: str | None = None):
    if override:
        return props.get(override)
    return next((props[k] for k in keys if props.get(k) not in (None, "")), None)


async def load_divisions(conn: AsyncConnection, path: Path, src_crs: crs.CRS = "wgs84",
                         code_field: str | None = None, name_field: str | None = None) -> LoadReport:
    report = LoadReport(str(path))
    rows = []
    for i, feat in enumerate(_read_geojson(path), start=1):
        props = feat.get("properties") or {}
        try:
            raw = _first(props, CODE_KEYS, code_field)
            code = division_code.validate(str(raw) if raw is not None else "")
            geom = shape(feat["geometry"]) if feat.get("geometry") else None
            if geom is not None:
                geom = crs.transform_geometry(geom, src_crs)
                if geom.geom_type == "Polygon":
                    geom = shapely.MultiPolygon([geom])
                if geom.geom_type != "MultiPolygon" or not geom.is_valid:
                    geom = shapely.make_valid(geom)
                    polys = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type == "Polygon"]
                    if not polys:
                        raise InvalidInput("boundary is not a valid polygon")
                    geom = shapely.MultiPolygon(polys)
        except (InvalidInput, ValueError, KeyError, TypeError, AttributeError) as exc:
            report.skip(i, str(getattr(exc, "message", exc)))
            continue
        name = _first(props, NAME_KEYS, name_field) or code
        rows.append((code, str(name), props.get("name_en"), geom))
    # Parents first, so the foreign key to the parent holds within one file.
    rows.sort(key=lambda r: division_code.level(r[0]))
    known = set((await conn.execute(select(Division.code))).scalars())
    seen = set()
    for code, name, name_en, geom in rows:
        if code in seen:
            report.skip(code, "duplicate division code in file")
            continue
        seen.add(code)
        parent = division_code.parent(code)
        # Walk up past levels the file does not have (Hong Kong districts hang off 810000).
        while parent is not None and parent not in known and parent not in seen:
            parent = division_code.parent(parent)
        values = {"code": code, "name": name, "name_en": name_en, "level": division_code.level(code),
                  "parent_code": parent,
                  "boundary": func.ST_GeomFromText(geom.wkt, 4326) if geom is not None else None}
        await conn.execute(insert(Division).values(**values).on_conflict_do_update(
            index_elements=["code"], set_={k: v for k, v in values.items() if k != "code"}))
        known.add(code)
    report.counts["divisions"] = len(seen)
    return report


DEFAULT_CAMERA_MAP = {
    "id": ("gb_id", "id", "deviceid", "device_id"), "name": ("name", "description", "title"),
    "lon": ("lon", "longitude", "lng", "x"), "lat": ("lat", "latitude", "y"), "ref": ("key", "ref", "code"),
    "heading": ("heading", "direction", "heading_deg"), "fov": ("fov", "fov_deg"), "range": ("range", "range_m"),
    "kind": ("kind", "ptz", "type"), "stream": ("url", "stream_url"),
}


def _pick(row: dict, keys: tuple[str, ...], mapping: dict[str, str], field: str):
    if field in mapping:
        return row.get(mapping[field])
    lower = {k.strip().lower(): v for k, v in row.items() if isinstance(k, str)}
    return next((lower[k] for k in keys if lower.get(k) not in (None, "")), None)


def _camera_rows(path: Path) -> list[tuple[int, dict, float | None, float | None]]:
    """(line number, attributes, lon, lat) per camera, from CSV or GeoJSON."""
    if path.suffix.lower() in (".geojson", ".json"):
        out = []
        for i, feat in enumerate(_read_geojson(path), start=1):
            geom = feat.get("geometry") or {}
            c = geom.get("coordinates") if geom.get("type") == "Point" else None
            lon, lat = (c[0], c[1]) if isinstance(c, list) and len(c) >= 2 else (None, None)
            out.append((i, feat.get("properties") or {}, lon, lat))
        return out
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileRejected(f"{path}: not readable UTF-8 CSV: {exc}") from exc
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise FileRejected(f"{path}: empty CSV")
    return [(i, row, None, None) for i, row in enumerate(reader, start=2)]  # line 1 is the header


async def load_cameras(conn: AsyncConnection, path: Path, src_crs: crs.CRS = "wgs84",
                       column_map: dict[str, str] | None = None, source: str = "import") -> LoadReport:
    mapping = column_map or {}
    report = LoadReport(str(path))
    parsed = []
    for line, row, glon, glat in _camera_rows(path):
        try:
            lon = float(glon if glon is not None else _pick(row, DEFAULT_CAMERA_MAP["lon"], mapping, "lon"))
            lat = float(glat if glat is not None else _pick(row, DEFAULT_CAMERA_MAP["lat"], mapping, "lat"))
        except (TypeError, ValueError):
            report.skip(line, "missing or non-numeric coordinates")
            continue
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            report.skip(line, f"coordinates out of range: {lon}, {lat}")
            continue
        wlon, wlat = crs.to_wgs84(lon, lat, src_crs)
        try:
            gb = _pick(row, DEFAULT_CAMERA_MAP["id"], mapping, "id")
            gb = gb28181_id.validate(str(gb)) if gb not in (None, "") else None
            heading = _pick(row, DEFAULT_CAMERA_MAP["heading"], mapping, "heading")
            fov = _pick(row, DEFAULT_CAMERA_MAP["fov"], mapping, "fov")
            rng = _pick(row, DEFAULT_CAMERA_MAP["range"], mapping, "range")
            kind = str(_pick(row, DEFAULT_CAMERA_MAP["kind"], mapping, "kind") or "fixed").lower()
            kind = {"1": "ptz", "true": "ptz", "0": "fixed", "false": "fixed"}.get(kind, kind)
            heading_f = float(heading) if heading not in (None, "") else None
            spec = camera_view.validate(camera_view.ViewSpec(
                float(wlon), float(wlat), kind, heading_f,
                float(fov) if fov not in (None, "") else (60.0 if heading_f is not None else 360.0),
                float(rng) if rng not in (None, "") else camera_view.DEFAULT_RANGE_M.get(kind, 60.0)))
        except (InvalidInput, ValueError) as exc:
            report.skip(line, str(getattr(exc, "message", exc)))
            continue
        ref = _pick(row, DEFAULT_CAMERA_MAP["ref"], mapping, "ref")
        name = _pick(row, DEFAULT_CAMERA_MAP["name"], mapping, "name") or (ref or f"camera line {line}")
        parsed.append((line, gb, spec, str(name)[:200], f"{source}:{ref}" if ref else None,
                       _pick(row, DEFAULT_CAMERA_MAP["stream"], mapping, "stream")))
    # Duplicate ids inside the file or against the database are bad rows, not silent overwrites.
    ids_in_db = set((await conn.execute(select(Camera.gb_id).where(
        Camera.gb_id.in_([p[1] for p in parsed if p[1]])))).scalars())
    refs_in_db = set((await conn.execute(select(Camera.external_ref).where(
        Camera.external_ref.in_([p[4] for p in parsed if p[4]])))).scalars())
    seen_ids, seen_refs, keep = set(), set(), []
    for p in parsed:
        line, gb, _, _, ref, _ = p
        if ref and ref in refs_in_db:
            continue  # already loaded: loading the same file twice changes nothing
        if gb and (gb in ids_in_db or gb in seen_ids):
            report.skip(line, f"duplicate GB/T 28181 id {gb}")
            continue
        if ref and ref in seen_refs:
            report.skip(line, f"duplicate camera reference {ref}")
            continue
        seen_ids.add(gb)
        seen_refs.add(ref)
        keep.append(p)
    lookup = await division_lookup(conn)
    divs = lookup([p[2].lon for p in keep], [p[2].lat for p in keep])
    need = [d for p, d in zip(keep, divs, strict=True) if not p[1]]
    fresh = iter(await allocate_gb_ids(conn, need))
    values = []
    for (_line, gb, spec, name, ref, stream), div in zip(keep, divs, strict=True):
        values.append({
            "gb_id": gb or next(fresh), "name": name, "division_code": div,
            "location": func.ST_SetSRID(func.ST_MakePoint(spec.lon, spec.lat), 4326),
            "view": func.ST_GeomFromText(camera_view.view_polygon(spec).wkt, 4326), "kind": spec.kind,
            "heading_deg": spec.heading_deg, "fov_deg": spec.fov_deg, "range_m": spec.range_m, "source": source,
            "external_ref": ref, "stream_url": stream if stream and str(stream).startswith(("http", "rtsp")) else None,
        })
    for i in range(0, len(values), 2000):
        ids = (await conn.execute(insert(Camera).values(values[i : i + 2000]).returning(Camera.id))).scalars().all()
        await conn.execute(insert(CameraStatusEvent).values([{"camera_id": c, "status": "online"} for c in ids]))
    report.counts["cameras"] = len(values)
    return report
