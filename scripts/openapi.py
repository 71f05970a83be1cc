#!/usr/bin/env python
"""Writes the API's OpenAPI document (JSON) to stdout, from the code alone (no database, no server):

    python scripts/openapi.py > frontend/openapi.json

The frontend generates its TypeScript types from that file, so a route change shows up as a type error."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from app.api.main import create_app
    from app.config import Settings

    # Nothing connects before the lifespan starts: the URL only has to be well-formed.
    app = create_app(Settings(demo_mode=True), "postgresql+asyncpg://openapi@localhost/openapi")
    json.dump(app.openapi(), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
