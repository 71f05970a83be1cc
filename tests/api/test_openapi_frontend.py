"""The frontend's checked-in OpenAPI document is the app's current one.

frontend/src/api/schema.d.ts is generated from frontend/openapi.json (``npm run gen:api``, run by
``npm run build``) and the pages call the API through it, so ``tsc`` catches a route change that breaks
a page only if that document is current. Regenerate after changing a route:

    .venv/bin/python -m tests.test_openapi_frontend > frontend/openapi.json && (cd frontend && npm run build)
"""

from __future__ import annotations

import json
from pathlib import Path

from app.api.main import create_app
from app.config import Settings

DOCUMENT = Path(__file__).resolve().parents[2] / "frontend" / "openapi.json"


def current_openapi() -> dict:
    # No database is touched: building the app and its schema only.
    return create_app(Settings(demo_mode=True), "postgresql://x/y").openapi()


def test_frontend_openapi_document_is_current() -> None:
    checked_in = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    assert checked_in == current_openapi(), (
        "frontend/openapi.json is stale: regenerate it (see this module's docstring) and fix what tsc reports")


if __name__ == "__main__":
    print(json.dumps(current_openapi(), indent=2, ensure_ascii=False))
