"""ASGI entry for process managers (``uvicorn app.api.asgi:app --no-proxy-headers``); settings and
database from the environment.

``--no-proxy-headers``: the platform itself decides whose ``X-Forwarded-For`` it believes
(``SHARPEYES_TRUSTED_PROXIES``); uvicorn would otherwise believe it from any process on 127.0.0.1.
"""

from __future__ import annotations

import os

from app.api.main import create_app
from app.config import get_settings

settings = get_settings()
app = create_app(settings, settings.database_url or os.environ["DATABASE_URL"])
