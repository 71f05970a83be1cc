"""A local metric frame for track work: azimuthal equidistant centred on the data (metres, true
distances near the centre), with vectorised conversion both ways."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyproj import CRS, Transformer


@lru_cache(maxsize=256)
def _transformers(lon0: float, lat0: float) -> tuple[Transformer, Transformer]:
    local = CRS.from_proj4(f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m")
    return (
        Transformer.from_crs("EPSG:4326", local, always_xy=True),
        Transformer.from_crs(local, "EPSG:4326", always_xy=True),
    )


class LocalFrame:
    def __init__(self, lon0: float, lat0: float) -> None:
        # Rounded centre: nearby tracks share cached transformers; 0.01° moves the centre < 1.2 km.
        self.lon0, self.lat0 = round(float(lon0), 2), round(float(lat0), 2)
        self._fwd, self._inv = _transformers(self.lon0, self.lat0)

    @classmethod
    def around(cls, lons, lats) -> LocalFrame:
        lons, lats = np.asarray(lons, dtype=float), np.asarray(lats, dtype=float)
        return cls(float(np.median(lons)), float(np.median(lats)))

    def to_xy(self, lons, lats) -> tuple[np.ndarray, np.ndarray]:
        x, y = self._fwd.transform(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
        return np.asarray(x), np.asarray(y)

    def to_lonlat(self, xs, ys) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = self._inv.transform(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
        return np.asarray(lon), np.asarray(lat)
