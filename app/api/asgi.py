"""ASGI entry for process managers (``uvicorn app.api.asgi:app``); settings and database from the
environment."""

from __future__ import annotations

import os

from app.api.main import create_app
from app.config import get_settings

settings = get_settings()
app = create_app(settings, settings.database_url or os.environ["DATABASE_URL"])
