"""Non-JSON answers (tiles, video, CSV, SDP, scripts), documented with their media type and a schema, so
every operation in the OpenAPI document says what it returns (tests/test_contract.py)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response

BINARY = {"type": "string", "format": "binary"}
TEXT = {"type": "string"}


def documented(status: int, description: str, media: dict[str, dict]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entry for one status: media type -> schema."""
    return {status: {"description": description, "content": {m: {"schema": s} for m, s in media.items()}}}


class GeoJSONResponse(Response):
    media_type = "application/geo+json"


class CSVResponse(Response):
    media_type = "text/csv"


class SDPResponse(Response):
    media_type = "application/sdp"


class MVTResponse(Response):
    media_type = "application/vnd.mapbox-vector-tile"


class StreamResponse(Response):
    """Documentation only: the routes answer a StreamingResponse of the camera's own media type."""

    media_type = "application/octet-stream"


STREAM_MEDIA = {m: BINARY for m in ("multipart/x-mixed-replace", "video/x-flv", "application/vnd.apple.mpegurl",
                                    "video/mp2t", "application/octet-stream")}
