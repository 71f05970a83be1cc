"""The labelled base map (issue #20) in headless Chromium against a real API process and the demo city:
at street level in central Helsinki the wall draws water, green areas, railways, and street and place names
as text (glyphs from local fonts, nothing fetched from elsewhere). Screenshot: artifacts/screenshots/."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from tests.browser import test_wall_browser as wall
from tests.browser.test_wall_browser import SHOTS, open_wall, wait_tiles_loaded
from tests.map_waits import wait_map_at_view

server, chromium, browser = wall.server, wall.chromium, wall.browser  # the wall's fixtures: API on Redis, Chromium

STREET_LEVEL = (24.9445, 60.1705, 16)  # the railway station, Kluuvi and Kaisaniemi

# Per label layer: glyphs drawn (the text layers' character instances) and the names they carry.
LABELS = """(prefix) => {
  const layers = window.sharpeyes.map.deck.layerManager.getLayers().filter(l => l.id.startsWith(prefix));
  const glyphs = layers.filter(l => l.constructor.layerName === 'MultiIconLayer')
    .reduce((n, l) => n + l.getNumInstances(), 0);
  const names = new Set();
  for (const l of layers.filter(l => l.constructor.layerName === 'TextLayer'))
    for (const d of l.props.data) { const f = d.__source ? d.__source.object : d; if (f?.properties?.name) names.add(f.properties.name); }
  const chars = new Set();  // the characters drawn ('auto' character set: collected from the texts shown)
  for (const l of layers.filter(l => l.constructor.layerName === 'TextLayer')) for (const c of l.state.characterSet ?? []) chars.add(c);
  return { glyphs, names: [...names], ids: layers.map(l => l.id), chars: [...chars].join('') };
}"""


def light_text_share(png: bytes) -> float:
    """Share of light grey pixels (label text) in the middle of the map, away from the page chrome."""
    img = Image.open(io.BytesIO(png)).convert("RGB")
    w, h = img.size
    rgb = np.asarray(img.crop((int(w * 0.25), int(h * 0.25), int(w * 0.75), int(h * 0.85))), dtype=np.int32)
    return float(((rgb.min(axis=2) > 150) & (rgb.max(axis=2) - rgb.min(axis=2) < 60)).mean())


def test_street_level_map_has_names_water_green_and_rail(server, browser):
    base = server.base
    w = open_wall(browser, base)
    page = w.page
    lon, lat, zoom = STREET_LEVEL
    page.evaluate(f"window.sharpeyes.map.flyTo({lon}, {lat}, {zoom})")
    wait_map_at_view(page, timeout_s=60)
    wait_tiles_loaded(page)
    png = page.screenshot(path=str(SHOTS / "basemap-street-level-1920x1080.png"))
    roads = page.evaluate(LABELS, "base-road-labels")
    assert roads["glyphs"] > 50, roads
    assert {"Mannerheimintie", "Kaivokatu"} & set(roads["names"]), roads["names"]
    places = page.evaluate(LABELS, "base-poi")
    assert places["glyphs"] > 0 and places["names"], places
    for layer in ("water", "green", "rail", "road_labels", "poi"):
        assert any(f"/tiles/{layer}/16/" in u for u in w.requests), layer
    drawn = page.evaluate("""() => window.sharpeyes.map.deck.layerManager.getLayers()
        .filter(l => /^base-(water|green|rail)-/.test(l.id) && l.isLoaded && l.getNumInstances && l.getNumInstances() > 0)
        .map(l => l.id.split('-')[1])""")
    assert {"water", "green", "rail"} <= set(drawn), drawn
    assert light_text_share(png) > 0.001, "no label text visible in the screenshot"
    # The station's Chinese name in zh-CN (CJK glyphs from local fonts), its English one in English.
    assert "車" in places["chars"], places  # 赫爾辛基中央車站
    page.click("[data-testid=lang]")
    page.wait_for_function(f"""() => {{ const p = ({LABELS})('base-poi');
        return p.glyphs > 0 && !p.chars.includes('車') && p.chars.includes('y'); }}""", timeout=60_000)
    wait_tiles_loaded(page)
    page.screenshot(path=str(SHOTS / "basemap-street-level-1920x1080-en.png"))
    assert w.foreign(base) == []  # fonts are local: no glyph or font request leaves the origin
    assert w.errors == []
    page.close()
