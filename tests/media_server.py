"""A stand-in for a city's media server (ZLMediaKit, SRS, MediaMTX…) or IP camera on its own origin, for
tests of real cameras' streams: HLS and HTTP-FLV of a generated H.264 clip (PyAV/libx264), an endless
MJPEG stream, and a WHEP endpoint that answers a WebRTC offer with a live generated video track (aiortc)
and whose sessions can be deleted. Everything is also under ``/private`` behind HTTP Basic credentials
(``USER``/``PASSWORD``), as a camera's own streams are. CORS open, as such servers are."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fractions
import io
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import av
import numpy as np
import uvicorn
from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from PIL import Image
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tests.server import free_port

W, H, FPS = 320, 180, 10
USER, PASSWORD = "cam-admin", "s3cret-Pa55"


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
        self.deleted: list[str] = []  # WHEP sessions deleted (RFC 9725 §4.3)
        self.mjpeg_open = 0  # MJPEG responses being streamed now
        self.authorized = 0  # requests that came with the right credentials

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

    async def whep_delete(self, request: Request) -> Response:
        pc = self.peers.pop(request.path_params["sid"], None)
        if pc is None:
            return Response(status_code=404)
        self.deleted.append(request.path_params["sid"])
        await pc.close()
        return Response(status_code=200)

    async def mjpeg(self, _request: Request) -> Response:
        async def frames() -> AsyncIterator[bytes]:
            self.mjpeg_open += 1
            try:
                i = 0
                while True:
                    buf = io.BytesIO()
                    Image.fromarray(frame(i)).save(buf, "JPEG", quality=60)
                    jpeg = buf.getvalue()
                    head = b"--camframe\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
                    yield head + jpeg + b"\r\n"
                    i += 1
                    await asyncio.sleep(1 / FPS)
            finally:
                self.mjpeg_open -= 1

        return StreamingResponse(frames(), media_type="multipart/x-mixed-replace; boundary=camframe")

    def private(self, inner):
        """``inner`` behind HTTP Basic credentials, as a camera's own HTTP streams are."""
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

        async def app(scope, receive, send):
            if scope["type"] == "http":
                auth = dict(scope["headers"]).get(b"authorization", b"").decode()
                if auth != expected:
                    await Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="camera"'})(
                        scope, receive, send)
                    return
                self.authorized += 1
            await inner(scope, receive, send)

        return app

    @contextlib.asynccontextmanager
    async def lifespan(self, _app) -> AsyncIterator[None]:
        yield
        await asyncio.gather(*(pc.close() for pc in self.peers.values()), return_exceptions=True)

    def routes(self) -> list:
        return [Route("/live/cam3/whep", self.whep, methods=["POST"]),
                Route("/whep/{sid}", self.whep_delete, methods=["DELETE"]),
                Route("/cam.mjpeg", self.mjpeg), Mount("/live", StaticFiles(directory=self.root))]

    def app(self) -> Starlette:
        return Starlette(lifespan=self.lifespan, routes=[
            Mount("/private", self.private(Starlette(routes=self.routes()))), *self.routes()],
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
