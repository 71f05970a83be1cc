"""Map colours that mean different things look different (issue 20): blind intersections on the planning
map are not drawn in an incident priority's colour (they were the same yellow)."""

from __future__ import annotations

import math
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "frontend" / "src"


def rgb_list(text: str) -> list[tuple[int, int, int]]:
    return [tuple(int(x) for x in m) for m in re.findall(r"\[(\d+), (\d+), (\d+), \d+\]", text)]


def test_blind_intersections_not_an_incident_colour():
    model = (SRC / "pages" / "planning" / "model.ts").read_text()
    blind = rgb_list(re.search(r"blind: (\[[^\]]+\])", model).group(1))[0]
    colors = (SRC / "map" / "colors.ts").read_text()
    priority = rgb_list(re.search(r"export const PRIORITY[^=]*= \[(.*?)\n\];", colors, re.S).group(1))
    assert len(priority) == 4
    for c in priority:
        assert math.dist(blind, c) > 100, (blind, c)
