"""GA/T 1400 view library (/VIID) and the plate search; filled in below."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["viid"])
