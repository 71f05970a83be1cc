"""GB/T 28181 video as the user sees it, in headless Chromium: how soon a picture appears after asking for
it, and how old the picture on the screen is (glass to glass).

    PYTHONPATH=. .venv/bin/python bench/video_browser_bench.py [--rounds 5] [--seconds 10] [--options JSON]

A simulated camera (tests/gb28181_peer.py, ``media="ps"``: real H.264 640×360 25 fps, 1 s GOPs, in PS over
RTP/UDP) registers to a live API process's SIP port (``SHARPEYES_MEDIA_LINGER_S=0``: the last viewer leaving
sends BYE at once, so a cold round really INVITEs). The page does what the wall does: ``POST
/api/v1/callup`` for a signed ``ts`` URL, then mpegts.js with the options ``playMpegts`` in
frontend/src/ui/players.ts uses (read from that file; ``--options`` replaces them, to try others).

1. play → first frame, in paired rounds: cold (no viewer: the platform INVITEs the camera, which starts at
   a keyframe) then warm (a viewer already watches: the shared stream, the new one starts from the GOP
   cache, joined 1–2 s after that viewer). From the page's call-up POST to the <video>'s first frame
   presented (``requestVideoFrameCallback`` expectedDisplayTime); ``loadeddata`` alongside.
2. glass to glass: the camera stamps each frame's send time (``start_ps_rtp(stamp=True)``); every frame
   carries its loop number as a 16-block strip (tests/media_source.py, a 20 s loop: no wrap within any
   latency here). At each ``requestVideoFrameCallback`` the page draws the <video> into a canvas, reads
   the strip and notes the expected display time; latency = display time − send time (one clock:
   performance.timeOrigin + now, corrected by its measured offset from Date.now(), against time.time()).
   Baseline in the same round: the same stream from the platform's TS URL decoded by PyAV in this
   process (no browser), latency = decode time − send time. Rounds: the browser opens the stream (PyAV
   joins), then the browser joins a stream PyAV opened 0.2, 0.5 and 0.8 s into a GOP (the GOP cache
   hands it that much video at once: what the player does with that backlog is the point).

Load = the 1-minute load average of the shared machine at each round.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import re
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av
import httpx
import psycopg
from playwright.sync_api import sync_playwright

from bench._common import ApiProcess, demo_database, token
from tests.browser.test_wall_browser import CHROMIUM_ARGS
from tests.gb28181_peer import Channel, PeerEndpoint, SimDevice
from tests.live_servers import free_port
from tests.media_source import encode_loop, read_counter, start_ps_rtp
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]
MPEGTS_JS = ROOT / "frontend/node_modules/mpegts.js/dist/mpegts.js"
PLAYERS_TS = ROOT / "frontend/src/ui/players.ts"
SIZE, FPS, LOOP_S = (640, 360), 25, 20.0
LOOP_N = int(LOOP_S * FPS)
PASSWORD = "bench-password"  # the platform-wide device password, given to the API process
CHANNEL = "34020000001320000301"
SPOT = (24.9410, 60.1690)


def load() -> float:
    return os.getloadavg()[0]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))] if xs else float("nan")


def shipped_options() -> str:
    """The mpegts.js config object literal playMpegts passes, as written in players.ts."""
    m = re.search(r"const ts = (\{[^}]*\});", PLAYERS_TS.read_text())  # the options of its MPEG-TS player
    assert m, "playMpegts' createPlayer(...) options not found in players.ts"
    return " ".join(m.group(1).split())


class StampedDevice(SimDevice):
    """The simulated camera, its streams stamped per frame and looping over 20 s (so a frame number read
    back names one frame within any latency measured here)."""

    async def _stream(self, dest, transport: str, ssrc: int):
        return await start_ps_rtp(dest, transport, ssrc, size=SIZE, fps=FPS, loop_seconds=LOOP_S, stamp=True)

    def live_sender(self):
        live = [c.stream for c in self.calls.values() if c.stream is not None and not c.stream.done.is_set()]
        assert len(live) == 1, f"{len(live)} streams running"
        return live[0]


def sent_time(sent_at: list[float], n: int, seen: float) -> float | None:
    """When the last frame with loop number ``n`` sent before ``seen`` left the camera."""
    if not 0 <= n < LOOP_N or not sent_at:
        return None
    k = n + (len(sent_at) - 1 - n) // LOOP_N * LOOP_N
    while k >= 0 and sent_at[k] > seen:
        k -= LOOP_N
    return sent_at[k] if k >= 0 else None


# --- the page: the wall's call-up and player, plus instruments -------------------------------------------

PAGE = """<!doctype html><html><body style="margin:0;background:#000"></body></html>"""

SCRIPT = """
(() => {
  const now = () => performance.timeOrigin + performance.now();
  window.bench = {
    async open(cameraId, tok, opts) {
      const c = { t0: now(), samples: [] };
      window.cur = c;
      const r = await fetch('/api/v1/callup', { method: 'POST', headers: { Authorization: 'Bearer ' + tok,
        'Content-Type': 'application/json' }, body: JSON.stringify({ camera_ids: [cameraId], reason: 'bench' }) });
      const s = (await r.json()).streams[0];
      c.callup = now();
      const v = c.v = document.createElement('video');
      v.muted = true; v.playsInline = true;
      document.body.appendChild(v);
      v.addEventListener('loadeddata', () => { c.loadeddata = now(); }, { once: true });
      v.requestVideoFrameCallback((t, md) => { c.first = performance.timeOrigin + md.expectedDisplayTime; });
      // as playMpegts does
      c.p = mpegts.createPlayer({ type: 'mpegts', isLive: true, url: new URL(s.url, location.href).href },
                                new Function('return ' + opts)());
      c.p.attachMediaElement(v);
      c.p.load();
      void Promise.resolve(c.p.play()).catch(() => {});
      return s.url;
    },
    sample() {  // from now on, every presented frame: [display time, frame number, buffered ahead s]
      const c = window.cur, v = c.v;
      const cv = document.createElement('canvas'); cv.width = 256; cv.height = 16;
      const g = cv.getContext('2d', { willReadFrequently: true });
      const cb = (t, md) => {
        if (c.stopped) return;
        g.drawImage(v, 0, 0, 256, 16, 0, 0, 256, 16);
        const d = g.getImageData(0, 0, 256, 16).data;
        let n = 0;
        for (let b = 0; b < 16; b++) {
          let sum = 0;
          for (let y = 4; y < 12; y++) for (let x = b * 16 + 4; x < b * 16 + 12; x++) sum += d[(y * 256 + x) * 4];
          n = (n << 1) | (sum / 64 > 128 ? 1 : 0);
        }
        const ahead = v.buffered.length ? v.buffered.end(v.buffered.length - 1) - v.currentTime : 0;
        c.samples.push([performance.timeOrigin + md.expectedDisplayTime, n, ahead]);
        v.requestVideoFrameCallback(cb);
      };
      v.requestVideoFrameCallback(cb);
    },
    close() {
      const c = window.cur; c.stopped = true;
      c.p.destroy(); c.v.remove();
    },
    clockOffsetMs() {  // Date.now() (the system clock, as time.time()) minus the page's high-resolution clock
      const xs = []; for (let i = 0; i < 20; i++) xs.push(Date.now() - now());
      xs.sort((a, b) => a - b); return xs[10];
    },
  };
})();
"""


class Page:
    def __init__(self, browser, base: str, opts: str) -> None:
        self.page = browser.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.route(base + "/bench-video.html", lambda r: r.fulfill(body=PAGE, content_type="text/html"))
        self.page.goto(base + "/bench-video.html")
        self.page.add_script_tag(path=str(MPEGTS_JS))
        self.page.add_script_tag(content=SCRIPT)
        self.opts = opts
        self.offset_s = self.page.evaluate("bench.clockOffsetMs()") / 1000

    def open(self, cam: int, tok: str) -> str:
        return self.page.evaluate("([c, t, o]) => bench.open(c, t, o)", [cam, tok, self.opts])

    def first_frame(self, timeout_s: float = 30) -> dict:
        self.page.wait_for_function("window.cur.first !== undefined && window.cur.loadeddata !== undefined",
                                    timeout=timeout_s * 1000)
        return self.page.evaluate("({t0: cur.t0, callup: cur.callup, first: cur.first, loadeddata: cur.loadeddata})")

    def samples(self) -> list[list[float]]:
        return self.page.evaluate("cur.samples")


# --- viewers without a browser ---------------------------------------------------------------------------


class Reader(threading.Thread):
    """Holds a TS URL open and reads it (the other viewer of a warm stream); ``decode``: with PyAV, noting
    (time.time(), frame number) as each frame is decoded (the no-browser baseline)."""

    def __init__(self, url: str, decode: bool = False) -> None:
        super().__init__(daemon=True)
        self.url, self.decode = url, decode
        self.stop = threading.Event()
        self.nbytes = 0
        self.frames: list[tuple[float, int]] = []  # (decoded at, frame number)
        self.demuxed: list[tuple[float, int]] = []  # (its packet demuxed at, frame number)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            if self.decode:
                with av.open(self.url, format="mpegts", options={"fflags": "nobuffer"}, timeout=10) as c:
                    v = c.streams.video[0]
                    v.thread_type = "SLICE"  # frame threads would hold frames back
                    for pkt in c.demux(v):
                        demuxed = time.time()  # its TS has arrived
                        for f in pkt.decode():
                            self.frames.append((time.time(), read_counter(f)))
                            self.demuxed.append((demuxed, read_counter(f)))
                        if self.stop.is_set():
                            return
            else:
                with httpx.stream("GET", self.url, timeout=10) as r:
                    for chunk in r.iter_bytes():
                        self.nbytes += len(chunk)
                        if self.stop.is_set():
                            return
        except Exception as e:  # reported by the caller
            self.error = e


def callup_url(base: str, hdr: dict, cam: int) -> str:
    r = httpx.post(base + "/api/v1/callup", headers=hdr, json={"camera_ids": [cam], "reason": "bench"})
    r.raise_for_status()
    return base + r.json()["streams"][0]["url"]


# --- the run ---------------------------------------------------------------------------------------------


def first_frame_rounds(page: Page, dev: StampedDevice, base: str, tok: str, cam: int, rounds: int) -> dict:
    hdr = {"Authorization": f"Bearer {tok}"}
    got: dict[str, list[dict]] = {"cold": [], "warm": []}
    for i in range(rounds):
        for kind in ("cold", "warm"):
            wait_for(lambda: dev.streaming == 0, interval=0.05, timeout=20, what="the stream closed (BYE)")
            other = None
            if kind == "warm":
                other = Reader(callup_url(base, hdr, cam))
                other.start()
                wait_for(lambda o=other: o.nbytes > 0, interval=0.02, timeout=20, what="the first viewer's bytes")
                time.sleep(random.uniform(1.0, 2.0))  # somewhere in a GOP
            l0 = load()
            page.open(cam, tok)
            m = page.first_frame()
            page.page.evaluate("bench.close()")
            if other:
                other.stop.set()
                other.join(5)
            r = {"callup_ms": m["callup"] - m["t0"], "first_ms": m["first"] - m["t0"],
                 "loadeddata_ms": m["loadeddata"] - m["t0"], "load": l0}
            got[kind].append(r)
            print(f"  round {i + 1} {kind}: call-up {r['callup_ms']:.0f} ms, first frame {r['first_ms']:.0f} ms "
                  f"(loadeddata {r['loadeddata_ms']:.0f}), load {l0:.2f}", flush=True)
    return got


def latency_round(page: Page, dev: StampedDevice, base: str, tok: str, cam: int, seconds: float,
                  join_phase: float | None) -> dict:
    """``join_phase`` None: the browser opens the stream and PyAV joins; else PyAV opens it and the browser
    joins that far into a GOP (0–1): the GOP cache hands it that much video at once."""
    hdr = {"Authorization": f"Bearer {tok}"}
    wait_for(lambda: dev.streaming == 0, interval=0.05, timeout=20, what="the stream closed (BYE)")
    l0 = load()
    pyav = Reader(callup_url(base, hdr, cam), decode=True)
    if join_phase is None:
        page.open(cam, tok)
        page.first_frame()
        time.sleep(random.uniform(1.0, 2.0))
        pyav.start()
        sender = dev.live_sender()
    else:
        pyav.start()
        wait_for(lambda: pyav.frames, interval=0.02, timeout=20, what="PyAV's first frame")
        sender = dev.live_sender()
        gop_s = 1.0  # encode_loop's default GOP: one second; keyframes at whole seconds from the sender's start
        since = time.monotonic() - sender.started_at
        time.sleep(sender.started_at + (int(since) + 1 + join_phase) * gop_s - time.monotonic())
        page.open(cam, tok)
        page.first_frame()
    page.page.evaluate("bench.sample()")
    time.sleep(2.0)  # PyAV's probing and its GOP-cache burst are behind it
    t0 = time.time()
    time.sleep(seconds)
    t1 = time.time()
    samples = page.samples()
    page.page.evaluate("bench.close()")
    pyav.stop.set()
    pyav.join(10)
    assert pyav.error is None, pyav.error

    def lat(points):  # [(seen, n)] in the window → [(seen, latency ms)], misread strips dropped
        out = []
        for seen, n in points:
            if t0 <= seen <= t1 and (s := sent_time(sender.sent_at, n, seen + 0.002)) is not None:
                out.append((seen, (seen - s) * 1000))
        return out

    off = page.offset_s
    b = lat([(s[0] / 1000 + off, s[1]) for s in samples])
    a = lat(pyav.frames)
    d = lat(pyav.demuxed)
    ahead = [s[2] * 1000 for s in samples if t0 <= s[0] / 1000 + off <= t1]
    shown = [s[0] / 1000 + off for s in samples if t0 <= s[0] / 1000 + off <= t1]
    in_window = len(shown)
    gaps = [(y - x) * 1000 for x, y in itertools.pairwise(shown)]
    bl = [x for _, x in b]
    third = (t1 - t0) / 3
    return {"join_phase": join_phase, "load": l0, "browser": bl, "pyav": [x for _, x in a],
            "pyav_demuxed": [x for _, x in d],
            "ahead": ahead, "frames": in_window, "fps": in_window / (t1 - t0),
            "max_gap_ms": max(gaps, default=0), "misread": in_window - len(b),
            "early": [x for t, x in b if t < t0 + third], "late": [x for t, x in b if t > t1 - third],
            "clock_offset_ms": off * 1000}


def who(r: dict) -> str:
    if r["join_phase"] is None:
        return "browser opened the stream"
    return f"browser joined a watched stream {r['join_phase']:.1f} s into a GOP"


def run(args) -> None:
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()}; PyAV {av.__version__}")
    t = time.monotonic()
    encode_loop("h264", SIZE, FPS, LOOP_S, bitrate=None)  # the key start_ps_rtp uses: encoded once, up front
    print(f"encoded the camera's {LOOP_S:.0f} s loop ({SIZE[0]}×{SIZE[1]}) in {time.monotonic() - t:.1f} s")
    opts = args.options or shipped_options()
    print(f"mpegts.js options: {opts}{'' if args.options else ' (from players.ts playMpegts)'}")
    with demo_database() as db:
        proc = ApiProcess(db)
        proc.sip_port = free_port()
        proc.env.update(SHARPEYES_GB_PORT=str(proc.sip_port), SHARPEYES_GB_MEDIA_HOST="127.0.0.1",
                        SHARPEYES_RECORDING_SWEEP_S="0", SHARPEYES_MEDIA_LINGER_S="0",
                        SHARPEYES_GB_PASSWORD=PASSWORD)
        proc.start(timeout_s=60)
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, daemon=True).start()
        ep = None

        async def start():
            ep = await PeerEndpoint.open(("127.0.0.1", proc.sip_port))
            dev = StampedDevice(ep, CHANNEL, PASSWORD, media="ps", media_size=SIZE,
                                channels=[Channel(CHANNEL, "bench camera", SPOT[0], SPOT[1])])
            assert (await dev.register()).status == 200
            return ep, dev

        def camera_id():
            with psycopg.connect(db) as c:
                row = c.execute("SELECT id FROM camera WHERE gb_id = %s", (CHANNEL,)).fetchone()
                return row[0] if row else None

        try:
            ep, dev = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
            wait_for(lambda: camera_id() is not None, interval=0.2, timeout=30, what="the channel as a camera")
            cam, tok = camera_id(), token(proc.base, "dispatcher")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = Page(browser, proc.base, opts)
                print(f"page clock − system clock: {-page.offset_s * 1000:+.1f} ms (corrected)")
                print("\n1. play → first frame")
                ff = first_frame_rounds(page, dev, proc.base, tok, cam, args.rounds)
                print("\n2. glass to glass")
                lats = []
                for phase in (None, 0.2, 0.5, 0.8):
                    r = latency_round(page, dev, proc.base, tok, cam, args.seconds, phase)
                    lats.append(r)
                    print(f"  {who(r)}: "
                          f"browser p50 {statistics.median(r['browser']):.0f} ms over {len(r['browser'])} frames "
                          f"({r['misread']} strips misread), PyAV p50 {statistics.median(r['pyav']):.0f} ms, "
                          f"load {r['load']:.2f}", flush=True)
                errors = page.errors
                browser.close()
        finally:
            if ep is not None:
                loop.call_soon_threadsafe(ep.close)
            loop.call_soon_threadsafe(loop.stop)
            proc.stop()

    print(f"\nGB/T 28181 → browser, {SIZE[0]}×{SIZE[1]} H.264 {FPS} fps, 1 s GOP, UDP, headless Chromium + "
          f"mpegts.js {json.loads((MPEGTS_JS.parents[1] / 'package.json').read_text())['version']}")
    print("| measure | rounds / frames | p50 | p90 | load |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for kind in ("cold", "warm"):
        rs = ff[kind]
        for key, label in (("callup_ms", "call-up POST"), ("first_ms", "→ first frame presented"),
                           ("loadeddata_ms", "→ loadeddata")):
            xs = [r[key] for r in rs]
            print(f"| {kind} channel: {label} | {len(xs)} | {pct(xs, .5):.0f} ms | {pct(xs, .9):.0f} ms | "
                  f"{min(r['load'] for r in rs):.1f}–{max(r['load'] for r in rs):.1f} |")
    for r in lats:
        print(f"| glass to glass, {who(r)}: browser | {len(r['browser'])} | {pct(r['browser'], .5):.0f} ms | "
              f"{pct(r['browser'], .9):.0f} ms | {r['load']:.1f} |")
        print(f"| same round: PyAV from the TS URL (baseline) | {len(r['pyav'])} | {pct(r['pyav'], .5):.0f} ms | "
              f"{pct(r['pyav'], .9):.0f} ms | |")
        print(f"| same round: PyAV, its packet demuxed (TS arrived) | {len(r['pyav_demuxed'])} | "
              f"{pct(r['pyav_demuxed'], .5):.0f} ms | {pct(r['pyav_demuxed'], .9):.0f} ms | |")
        print(f"| same round: browser − PyAV | | {pct(r['browser'], .5) - pct(r['pyav'], .5):.0f} ms | "
              f"{pct(r['browser'], .9) - pct(r['pyav'], .9):.0f} ms | |")
        print(f"| same round: MSE buffered ahead of playback | {len(r['ahead'])} | {pct(r['ahead'], .5):.0f} ms | "
              f"{pct(r['ahead'], .9):.0f} ms | |")
        print(f"| same round: browser, first → last third of the window | | {pct(r['early'], .5):.0f} → "
              f"{pct(r['late'], .5):.0f} ms | | |")
        print(f"| same round: frames presented per s (sent: {FPS}); longest freeze | | {r['fps']:.1f} | "
              f"{r['max_gap_ms']:.0f} ms | |")
    if errors:
        print("page errors:", errors)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="paired cold/warm play → first frame rounds")
    ap.add_argument("--seconds", type=float, default=6.0, help="glass-to-glass window per round")
    ap.add_argument("--options", help="mpegts.js config object literal instead of players.ts's (to compare)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout still stops the API and the browser
    run(ap.parse_args())


if __name__ == "__main__":
    main()
