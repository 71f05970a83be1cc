"""Counters of the JT/T 808 listener."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Jt808Stats:
    connections: int = 0
    active: int = 0
    frames: int = 0
    bad_frames: int = 0
    bad_checksums: int = 0
    fixes: int = 0
    sink_errors: int = 0
    unauthenticated: int = 0
    refused: int = 0  # locations refused (impossible fixes): answered "bad message", nothing stored
    overflows: int = 0
    groups: int = 0  # sink calls (group commits)
