"""Tiny helpers for vector tiles in tests: tile numbers of a point, feature count of an MVT."""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def _varint(b: bytes, i: int) -> tuple[int, int]:
    shift = v = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def _fields(b: bytes) -> Iterator[tuple[int, int, object]]:
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        wt = key & 7
        if wt == 2:
            n, i = _varint(b, i)
            yield key >> 3, wt, b[i:i + n]
            i += n
        elif wt == 0:
            v, i = _varint(b, i)
            yield key >> 3, wt, v
        elif wt == 1:
            yield key >> 3, wt, b[i:i + 8]
            i += 8
        elif wt == 5:
            yield key >> 3, wt, b[i:i + 4]
            i += 4
        else:
            raise AssertionError(f"unexpected wire type {wt}")


def _value(b: bytes) -> object:
    for num, _, v in _fields(b):
        if num == 1:
            return v.decode()
        if num == 2:
            return struct.unpack("<f", v)[0]
        if num == 3:
            return struct.unpack("<d", v)[0]
        if num in (4, 5):
            return v
        if num == 6:
            return (v >> 1) ^ -(v & 1)
        if num == 7:
            return bool(v)
    return None


def mvt_decode(body: bytes) -> dict[str, list[dict]]:
    """Layer name → the properties of each feature (geometry is not needed to judge scope)."""
    out: dict[str, list[dict]] = {}
    for num, _, layer in _fields(body):
        if num != 3:
            continue
        name, keys, values, feats = "", [], [], []
        for f, _, v in _fields(layer):
            if f == 1:
                name = v.decode()
            elif f == 3:
                keys.append(v.decode())
            elif f == 4:
                values.append(_value(v))
            elif f == 2:
                feats.append(v)
        rows = []
        for feat in feats:
            props: dict = {}
            for f, wt, v in _fields(feat):
                if f == 2:  # packed tags: key index, value index, ...
                    tags, i = [], 0
                    while i < len(v):
                        t, i = _varint(v, i)
                        tags.append(t)
                    props.update({keys[tags[k]]: values[tags[k + 1]] for k in range(0, len(tags), 2)})
                elif f == 1 and wt == 0:
                    props.setdefault("__id", v)
            rows.append(props)
        out[name] = rows
    return out


def mvt_features(body: bytes) -> int:
    """Count the features of an MVT (all layers)."""
    return sum(len(feats) for feats in mvt_decode(body).values())
