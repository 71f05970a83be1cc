"""Settings of the live-video media path (``SHARPEYES_MEDIA_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MediaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHARPEYES_MEDIA_", extra="forbid")

    host: str = "0.0.0.0"  # where RTP receivers bind
    public_host: str | None = None  # the address written into the INVITE's SDP; default: the bound one
    idle_s: float = Field(default=10.0, gt=0)  # no RTP for this long = the device is gone
    # Keep the device streaming this long after the last viewer left (0 = BYE at once): a page reload
    # or a video wall switching layout does not cost a new INVITE.
    linger_s: float = Field(default=3.0, ge=0)
    viewer_queue_bytes: int = Field(default=8 << 20, gt=0)  # further behind: skip to the next keyframe
    gop_cache_bytes: int = Field(default=16 << 20, gt=0)  # a larger GOP is not cached
    open_timeout_s: float = Field(default=15.0, gt=0)  # opener() (INVITE and answer) must return within this
