"""A stand-in for a city's media server (ZLMediaKit, SRS, MediaMTX…) on its own origin, for browser tests
of real cameras' streams: HLS and HTTP-FLV of a generated H.264 clip (PyAV/libx264), and a WHEP endpoint
that answers a WebRTC offer with a live generated video track (aiortc). CORS open, as such servers are."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import av
import numpy as np
import uvicorn
from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tests.server import free_port

W, H, FPS = 320, 180, 10


def frame(i: int) -> np.ndarray:
    """A bar sweeping across a gradient: consecutive frames differ, so playback is visible."""
    img = np.zeros((H, W, 3), np.uint8)
    img[:, :, 0] = np.linspace(0, 255, W, dtype=np.uint8)[None, :]
    x = (i * 8) % W
    img[:, x:x + 16] = 255
    return img


def encode(path: Path, fmt: str, seconds: int, options: dict | None = None) -> None:
    with av.open(str(path), "w", format=fmt, options=options or {}) as out:
        st = out.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "tune": "zerolatency", "g": str(FPS)})
        st.width, st.height, st.pix_fmt = W, H, "yuv420p"
        for i in range(seconds * FPS):
            out.mux(st.encode(av.VideoFrame.from_ndarray(frame(i), format="rgb24")))
        out.mux(st.encode(None))


class Sweep(VideoStreamTrack):
    def __init__(self) -> None:
        super().__init__()
        self.i = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        f = av.VideoFrame.from_ndarray(frame(self.i), format="rgb24")
        f.pts, f.time_base = pts, time_base or fractions.Fraction(1, 90000)
        self.i += 1
        return f


class MediaServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.peers: dict[str, RTCPeerConnection] = {}
        self.offers = 0

    def prepare(self) -> None:
        (self.root / "cam1").mkdir(parents=True, exist_ok=True)
        encode(self.root / "cam1" / "index.m3u8", "hls", 30,
               {"hls_time": "2", "hls_list_size": "0", "hls_playlist_type": "vod"})
        encode(self.root / "cam2.flv", "flv", 30)

    async def whep(self, request: Request) -> Response:
        self.offers += 1
        pc = RTCPeerConnection()
        sid = uuid.uuid4().hex
        self.peers[sid] = pc
        await pc.setRemoteDescription(RTCSessionDescription((await request.body()).decode(), "offer"))
        track = Sweep()
        for t in pc.getTransceivers():
            if t.kind == "video":
                t.sender.replaceTrack(track)
                t.direction = "sendonly"
        await pc.setLocalDescription(await pc.createAnswer())
        return Response(pc.localDescription.sdp, status_code=201, media_type="application/sdp",
                        headers={"Location": f"/whep/{sid}"})

    @contextlib.asynccontextmanager
    async def lifespan(self, _app) -> AsyncIterator[None]:
        yield
        await asyncio.gather(*(pc.close() for pc in self.peers.values()), return_exceptions=True)

    def app(self) -> Starlette:
        return Starlette(lifespan=self.lifespan, routes=[Route("/live/cam3/whep", self.whep, methods=["POST"]),
                                 Mount("/live", StaticFiles(directory=self.root))],
                         middleware=[Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"],
                                                allow_headers=["*"], expose_headers=["Location"])])


@contextlib.contextmanager
def running_media_server(root: Path) -> Iterator[MediaServer]:
    ms = MediaServer(root)
    ms.prepare()
    server = uvicorn.Server(uvicorn.Config(ms.app(), host="127.0.0.1", port=ms.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("media server did not start")
        time.sleep(0.05)
    try:
        yield ms
    finally:
        server.should_exit = True
        thread.join(10)
