"""A GB/T 28181 channel's presets, cruises, PTZ position, precise PTZ and snapshots (/api/v1/cameras/{id}/…)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from app.api.schemas.base import Public, Strict

__all__ = ["ChannelCommandDone", "CruiseIn", "Preset", "PresetIn", "PresetList", "PtzPosition", "PtzPreciseIn",
           "SnapshotIn", "SnapshotOut", "SnapshotUploaded"]

Reason = Field(default=None, max_length=2000, description="why (kept in the audit log)")


class Preset(Public):
    preset: int = Field(description="preset number 1–255")
    name: str | None


class PresetList(Public):
    camera_id: int
    complete: bool = Field(description="false when only part of the device's answer arrived")
    presets: list[Preset]


class PresetIn(Strict):
    action: Literal["set", "call", "delete"] = Field(description="set: store the current position; call: go there")
    preset: int = Field(ge=1, le=255)
    name: str | None = Field(default=None, max_length=64, description="a label for the audit log (PTZCmd "
                                                                       "carries no name)")
    reason: str | None = Reason


class CruiseIn(Strict):
    action: Literal["start", "stop"]
    cruise: int = Field(ge=1, le=255, description="the cruise (tour) number on the device")
    reason: str | None = Reason


class PtzPreciseIn(Strict):
    pan: float = Field(ge=0, le=360, description="degrees")
    tilt: float = Field(ge=-90, le=90, description="degrees")
    zoom: float = Field(ge=1, le=100, description="magnification")
    reason: str | None = Reason


class ChannelCommandDone(Public):
    camera_id: int
    command: dict[str, Any] = Field(description="what was sent; the device answered 200")


class PtzPosition(Public):
    camera_id: int
    pan: float
    tilt: float
    zoom: float | None


class SnapshotIn(Strict):
    reason: str | None = Reason


class SnapshotOut(Public):
    id: str
    url: str = Field(description="GET it with the same bearer: the JPEG")
    camera_id: int
    sha256: str
    size: int


class SnapshotUploaded(Public):
    received: bool
    sha256: str
