"""What the cascade tests over real SharpEyes processes share (tests/api/test_cascade_two_instances.py,
test_cascade_three_levels.py): a platform process with its SIP server, the API read as a user, and a
call-up watched to its decoded frames."""

from __future__ import annotations

import io

import av
import httpx
import numpy as np

from tests.live_servers import ApiProcess, free_port


def platform(db_url: str, **env: str) -> ApiProcess:
    """A platform process (not started) over ``db_url``, its SIP server on a free port (``proc.sip_port``),
    media received on 127.0.0.1, no scheduled recording sweep; ``proc.db`` is ``db_url``."""
    proc = ApiProcess(db_url)
    proc.sip_port = free_port()
    proc.env.update(SHARPEYES_GB_PORT=str(proc.sip_port), SHARPEYES_GB_MEDIA_HOST="127.0.0.1",
                    SHARPEYES_RECORDING_SWEEP_S="0", **env)
    proc.db = db_url
    return proc


def api_get(base: str, path: str, tok: str, **params) -> dict:
    r = httpx.get(base + path, headers={"Authorization": f"Bearer {tok}"}, params=params, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def call_up_frames(base: str, tok: str, camera_id: int, reason: str, size: int = 100_000) -> list[np.ndarray]:
    """Call a camera up as ``tok``'s user, read ``size`` bytes of its MPEG-TS, leave; the decoded frames."""
    hdr = {"Authorization": f"Bearer {tok}"}
    with httpx.Client(base_url=base, timeout=30) as client:
        r = client.post("/api/v1/callup", headers=hdr, json={"camera_ids": [camera_id], "reason": reason})
        assert r.status_code == 200, r.text
        url = r.json()["streams"][0]["url"]
        got = bytearray()
        with client.stream("GET", url) as resp:
            assert resp.status_code == 200, resp.read().decode()
            assert resp.headers["content-type"] == "video/mp2t"
            for chunk in resp.iter_bytes():
                got += chunk
                if len(got) >= size:
                    break
    with av.open(io.BytesIO(bytes(got)), format="mpegts") as c:
        return [f.to_ndarray(format="gray") for f in c.decode(video=0)]
