"""Snapshots taken by GB/T 28181-2022 channels (DeviceConfig/SnapShotConfig), kept on disk.

A user asks for a snapshot: a one-time upload ticket is issued (``pending/<token>.json``, valid
``token_ttl_s``); the device POSTs the JPEG to ``/api/v1/snapshots/upload/<token>`` without a bearer, the
ticket is claimed by an atomic rename (a second upload with the same token finds nothing), the picture is
stored content-addressed (``images/<sha256[:2]>/<sha256>.jpg``) and described by ``meta/<id>.json`` (camera,
who asked, when). Files, not memory: the upload may reach another API process on the host than the one
whose user waits; that one learns of it over the bus (``TOPIC``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.domain.errors import Forbidden, InvalidInput, NotFound

TOPIC = "snapshots"  # {"id", "camera_id"}: a snapshot arrived
ID_RE = re.compile(r"^[0-9a-f]{32}$")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")
JPEG_MAGIC = b"\xff\xd8\xff"


class SnapshotSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHARPEYES_SNAPSHOT_", extra="forbid")

    dir: Path | None = Field(default=None, description="where pictures are kept; default <data_dir>/snapshots")
    upload_base: str | None = Field(default=None, pattern=r"^https?://[^/?#]+$",
                                    description="how devices reach the platform (http://host:port); "
                                                "default: the address the asking user used")
    token_ttl_s: float = Field(default=60.0, gt=0, le=600)
    wait_s: float = Field(default=15.0, gt=0, le=60)
    max_bytes: int = Field(default=5_000_000, ge=1_000, le=50_000_000)


class SnapshotStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, name: str) -> Path:
        d = self.root / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def issue(self, camera_id: int, user_id: int, ttl_s: float) -> tuple[str, str]:
        """A new snapshot's id and its one-time upload token."""
        snap_id, token = secrets.token_hex(16), secrets.token_urlsafe(24)
        ticket = {"id": snap_id, "camera_id": camera_id, "user_id": user_id, "expires": time.time() + ttl_s}
        tmp = self._dir("pending") / f".{token}.tmp"
        tmp.write_text(json.dumps(ticket))
        tmp.replace(self.root / "pending" / f"{token}.json")
        return snap_id, token

    def withdraw(self, token: str) -> None:
        """The ticket of an abandoned request: no upload is accepted for it any more."""
        (self.root / "pending" / f"{token}.json").unlink(missing_ok=True)

    def claim(self, token: str) -> dict:
        """The ticket behind ``token``, used up by this call (404 unknown or used, 403 expired)."""
        if not TOKEN_RE.match(token):
            raise NotFound("no such upload ticket")
        claimed = self._dir("claimed") / f"{token}.json"
        try:
            os.rename(self.root / "pending" / f"{token}.json", claimed)  # atomic: one claimant wins
        except FileNotFoundError:
            raise NotFound("no such upload ticket (unknown, or already used)") from None
        ticket = json.loads(claimed.read_text())
        claimed.unlink(missing_ok=True)
        if time.time() > ticket["expires"]:
            raise Forbidden("upload ticket expired")
        return ticket

    def save(self, ticket: dict, data: bytes) -> dict:
        """Store the picture of a claimed ticket; returns its description."""
        if not data.startswith(JPEG_MAGIC):
            raise InvalidInput("not a JPEG picture", field="body")
        sha = hashlib.sha256(data).hexdigest()
        image = self._dir(f"images/{sha[:2]}") / f"{sha}.jpg"
        if not image.exists():
            tmp = image.with_suffix(f".{secrets.token_hex(4)}.tmp")
            tmp.write_bytes(data)
            tmp.replace(image)
        meta = {"id": ticket["id"], "camera_id": ticket["camera_id"], "user_id": ticket["user_id"],
                "sha256": sha, "size": len(data), "taken_at": time.time()}
        (self._dir("meta") / f"{ticket['id']}.json").write_text(json.dumps(meta))
        return meta

    def meta(self, snap_id: str) -> dict:
        path = self.root / "meta" / f"{snap_id}.json"
        if not ID_RE.match(snap_id) or not path.exists():
            raise NotFound(f"snapshot {snap_id} not found")
        return json.loads(path.read_text())

    def image(self, meta: dict) -> Path:
        return self.root / "images" / meta["sha256"][:2] / f"{meta['sha256']}.jpg"
