"""How ``foot_tracks.csv`` was made (provenance; not run by the tests).

Usage: python tests/data/foot_tracks_from_gpx.py RUN_LA.gpx RUN_KENT.gpx HIKE.gpx > tests/data/foot_tracks.csv
where the three files are, in this order, ``package/gpx/sample.gpx`` of the npm package ``stoplight@0.0.7``,
``package/tests/integration/data/route-1.1.gpx`` of ``gpx-parse@0.10.4`` (``npm pack <name>@<version>``)
and ``test_files/korita-zbevnica.gpx`` of the ``gpxpy==1.6.2`` source distribution
(``pip download --no-binary :all: --no-deps gpxpy==1.6.2``). Every timed track point is kept as it is.
"""

import re
import sys
from datetime import datetime

NAMES = ("run_la", "run_kent", "hike_korita")
POINT = re.compile(
    r'<trkpt\s+(?:lat="([-\d.]+)"\s+lon="([-\d.]+)"|lon="([-\d.]+)"\s+lat="([-\d.]+)")[^>]*>(.*?)</trkpt>', re.S
)

print("track,timestamp,longitude,latitude")
for name, path in zip(NAMES, sys.argv[1:], strict=True):
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    for m in POINT.finditer(text):
        t = re.search(r"<time>([^<]*)</time>", m[5])
        if t:
            ts = datetime.fromisoformat(t[1].replace("Z", "+00:00")).strftime("%Y-%m-%dT%H:%M:%S")
            print(f"{name},{ts},{m[2] or m[3]},{m[1] or m[4]}")
