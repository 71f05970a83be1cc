"""Bounded waits on a page's deck.gl map (Playwright, sync API): instead of sleeping a guessed time before a
screenshot or a click on the map, wait for what the sleep was waiting for.

The predicates are functions, not expressions: a polled expression is eval'ed in the page, which its CSP forbids.
"""

from __future__ import annotations

from playwright.sync_api import Page

SHELL_DECK = "window.sharpeyes?.map?.deck"  # the app's pages (frontend/src/pages/shell.ts)


def wait_map_loaded(page: Page, deck: str = SHELL_DECK, timeout_s: float = 30) -> None:
    """Every layer's data loaded (the tiles included): a screenshot shows the map, not its empty tiles.
    ``deck``: a JavaScript expression for the Deck (the planning report's is ``deckInstance``)."""
    page.wait_for_function(f"""() => {{ const d = {deck};
        return !!d && d.isInitialized && d.layerManager.getLayers().every(l => l.isLoaded); }}""",
                           timeout=timeout_s * 1000)


def wait_map_at_view(page: Page, timeout_s: float = 15) -> None:
    """The map shows the view it was last told to (a recentring applied, a fitted transition ended), so a
    click on it or a screenshot of it is at the place asked for."""
    page.wait_for_function("""() => { const m = window.sharpeyes?.map, vp = m?.deck?.getViewports()[0];
        if (!vp) return false;
        const v = m.view;
        return Math.abs(vp.longitude - v.longitude) < 1e-6 && Math.abs(vp.latitude - v.latitude) < 1e-6
          && Math.abs(vp.zoom - v.zoom) < 1e-4; }""", timeout=timeout_s * 1000)
