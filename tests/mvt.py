"""Tiny helpers for vector tiles in tests: tile numbers of a point, feature count of an MVT."""

from __future__ import annotations

import math


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def mvt_features(body: bytes) -> int:
    """Count features in an MVT by its protobuf layout (layer=3, feature=2) without a decoder dependency."""
    def varint(b, i):
        shift = v = 0
        while True:
            c = b[i]
            i += 1
            v |= (c & 0x7F) << shift
            shift += 7
            if c < 0x80:
                return v, i

    def fields(b):
        i = 0
        while i < len(b):
            key, i = varint(b, i)
            wt = key & 7
            if wt == 2:
                n, i = varint(b, i)
                yield key >> 3, b[i:i + n]
                i += n
            elif wt == 0:
                _, i = varint(b, i)
            else:
                raise AssertionError(f"unexpected wire type {wt}")

    return sum(1 for num, layer in fields(body) if num == 3 for f, _ in fields(layer) if f == 2)
