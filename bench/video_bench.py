"""GB/T 28181 live video: how many 1080p 25 fps H.264 streams one process takes from RTP/PS to MPEG-TS
(app/media: receiver → PyAV remux → shared stream with one viewer each), and how soon a viewer gets its
first keyframe.

    PYTHONPATH=. python bench/video_bench.py [--steps 1 16 32 48 64] [--seconds 6]

1. Capacity, in paired rounds: for each N, first the baseline — PyAV alone remuxing the same PS
   (10 s of it, from memory, one thread: FFmpeg's work without sockets or Python per packet) — then N
   live streams for ``--seconds``: a child process (the other core) plays N cameras sending RTP over UDP
   at real time, this process receives, remuxes and serves them. N streams keep up when no packet was
   lost and the lag from a frame's scheduled send time to its TS reaching the viewer stays under
   ``--max-lag-ms`` at p99 (a process that cannot keep up falls further behind every second); the
   rounds stop at the first N that does not.
2. Open → first keyframe: a viewer opens a stream (receiver bound, camera starts sending) and waits for
   its first TS bytes, which always start at a keyframe; the camera starts at a keyframe, or 13 frames
   into a 25-frame GOP (the viewer then waits for the next one, as with a real camera).

CPU is this process's (all threads), from /proc; load = the 1-minute load average at each round.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av

from app.media.live import LiveStreams
from app.media.receiver import open_receiver
from app.media.remux import DEMUX_OPTIONS, MUX_OPTIONS
from tests.media_source import CLOCK, STREAM_TYPE, encode_loop, ps_frame, start_ps_rtp
from tests.waiting import async_wait_for

SIZE, FPS, HOST = (1920, 1080), 25, "127.0.0.1"


def load() -> float:
    return os.getloadavg()[0]


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def main_thread_cpu() -> float:
    """This thread's CPU (the event loop: sockets, RTP, fan-out); the rest is the remux threads."""
    return time.thread_time()


# --- the cameras, in a child process -------------------------------------------------------------------


def cameras(conn, frames) -> None:
    """Commands: ("start", [ports]) → starts one camera per port; ("stop",) → their packet counts."""
    async def main():
        senders = []
        while True:
            cmd = await asyncio.to_thread(conn.recv)
            if cmd[0] == "start":
                senders = []
                for k, port in enumerate(cmd[1]):  # started spread over a second: cameras' GOPs are not in step
                    senders.append(await start_ps_rtp((HOST, port), "udp", ssrc=1000 + k, fps=FPS, size=SIZE,
                                                      frames=frames, start_frame=0))
                    await asyncio.sleep(1 / len(cmd[1]))
                await async_wait_for(lambda ss=senders: all(s.started_at is not None for s in ss), timeout=10)
                conn.send(("started", cpu(), [s.started_at for s in senders]))
            elif cmd[0] == "stop":
                for s in senders:
                    await s.stop()
                conn.send(("stopped", [s.packets_sent for s in senders], cpu()))
            else:
                return

    asyncio.run(main())


# --- 1. capacity ---------------------------------------------------------------------------------------


def baseline(ps: bytes, video_s: float) -> float:
    """CPU ms per stream-second: FFmpeg's demux + mux of the same PS, nothing else."""
    class Null:
        def write(self, b):
            return len(b)

    t0 = time.thread_time()
    with av.open(io.BytesIO(ps), format="mpeg", options=DEMUX_OPTIONS) as src:
        v = src.streams.video[0]
        with av.open(Null(), "w", format="mpegts", options=MUX_OPTIONS) as out:
            ov = out.add_stream_from_template(v)
            for pkt in src.demux(v):
                if pkt.pts is None:
                    continue
                pkt.stream = ov
                out.mux(pkt)
    return (time.thread_time() - t0) / video_s * 1000


async def live_round(conn, n: int, seconds: float) -> dict:
    streams = LiveStreams(linger_s=0)
    rxs = [await open_receiver("udp", HOST, ssrc=1000 + k, idle_s=10) for k in range(n)]
    out_bytes = [0] * n
    arrivals: list[list[float]] = [[] for _ in range(n)]  # when each TS chunk (one frame) reached the viewer

    def opener_for(rx):
        async def opener():
            async def close():
                rx.close()
            return rx, close
        return opener

    async def view(k):
        async for chunk in streams.watch(f"s{k}", opener_for(rxs[k])):
            out_bytes[k] += len(chunk)
            arrivals[k].append(time.monotonic())

    viewers = [asyncio.create_task(view(k)) for k in range(n)]
    conn.send(("start", [rx.port for rx in rxs]))
    _, cam_c0, started_at = await asyncio.to_thread(conn.recv)
    await asyncio.sleep(2.0)  # warm-up: streams opened, first keyframes out

    def frames():
        by_key = streams.stats()["by_key"]
        return [by_key.get(f"s{k}", {}).get("frames", 0) for k in range(n)]

    f0, c0, m0, t0, l0 = frames(), cpu(), main_thread_cpu(), time.monotonic(), load()
    await asyncio.sleep(seconds)
    f1, c1, m1, t1 = frames(), cpu(), main_thread_cpu(), time.monotonic()

    conn.send(("stop",))
    _, sent, cam_c1 = await asyncio.to_thread(conn.recv)
    await asyncio.sleep(0.3)
    lost = sum(rx.stats.lost for rx in rxs)
    received = sum(rx.stats.packets for rx in rxs)
    for rx in rxs:
        rx.close()
    await streams.close()
    for t in viewers:
        t.cancel()
    await asyncio.gather(*viewers, return_exceptions=True)
    wall = t1 - t0
    rates = [(b - a) / wall for a, b in zip(f0, f1, strict=True)]
    # Lag: frame j left the camera (on schedule) at started_at + j/FPS; the viewer's j-th chunk is frame j
    # (the camera starts at a keyframe and nothing is lost). Only frames that arrived in the window count.
    lags = sorted(t - (started_at[k] + j / FPS) for k in range(n) for j, t in enumerate(arrivals[k]) if t0 <= t <= t1)
    skips = sum(v["skips"] for v in streams.stats()["by_key"].values())
    return {"n": n, "cpu_cores": (c1 - c0) / wall, "ms_per_stream_s": (c1 - c0) / wall / n * 1000,
            "loop_ms_per_stream_s": (m1 - m0) / wall / n * 1000,
            "min_fps": min(rates), "mean_fps": statistics.fmean(rates), "lost": lost,
            "sent": sum(sent), "received": received, "load": l0, "ts_bytes": sum(out_bytes), "skips": skips,
            "lag_p50": lags[len(lags) // 2] * 1000 if lags else float("nan"),
            "lag_p99": lags[int(len(lags) * 0.99)] * 1000 if lags else float("nan"),
            "cameras_cores": (cam_c1 - cam_c0) / (wall + 2.0)}


# --- 2. open → first keyframe ---------------------------------------------------------------------------


async def first_keyframe(frames, start_frame: int) -> tuple[float, float]:
    """(open → first RTP payload, open → first TS bytes) in ms."""
    streams = LiveStreams(linger_s=0)
    marks: dict[str, float] = {}

    async def opener():
        rx = await open_receiver("udp", HOST, ssrc=7, idle_s=5)
        cam = await start_ps_rtp((HOST, rx.port), "udp", ssrc=7, fps=FPS, size=SIZE, frames=frames,
                                 start_frame=start_frame)

        async def ps():
            async for data in rx:
                marks.setdefault("first_packet", time.monotonic())
                yield data

        async def close():
            await cam.stop()
            rx.close()
        return ps(), close

    t0 = time.monotonic()
    it = streams.watch("k", opener).__aiter__()
    await it.__anext__()
    t1 = time.monotonic()
    await it.aclose()
    await streams.close()
    return (marks["first_packet"] - t0) * 1000, (t1 - t0) * 1000


async def run(args) -> None:
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()}; PyAV {av.__version__}, "
          f"FFmpeg {av.ffmpeg_version_info}")
    t = time.monotonic()
    frames = encode_loop("h264", SIZE, FPS, 2.0)
    gop_bytes = sum(len(f.data) for f in frames)
    print(f"encoded the 1080p loop once: {len(frames)} frames, {gop_bytes * 8 / 1e6 / 2:.1f} Mbit/s, "
          f"{time.monotonic() - t:.1f} s")
    step = CLOCK // FPS
    ps = b"".join(ps_frame(frames[i % len(frames)], i * step, STREAM_TYPE["h264"]) for i in range(10 * FPS))

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=cameras, args=(child, frames), daemon=True)
    proc.start()
    rows = []
    try:
        for n in args.steps:
            base = baseline(ps, 10.0)
            r = await live_round(parent, n, args.seconds)
            r["baseline_ms"] = base
            rows.append(r)
            ok = r["lag_p99"] < args.max_lag_ms and r["lost"] == 0 and r["skips"] == 0
            r["ok"] = ok
            print(f"  N={n:3d}: {r['cpu_cores']:.2f} cores, {r['ms_per_stream_s']:.1f} ms CPU per stream-second "
                  f"(event loop {r['loop_ms_per_stream_s']:.1f}; baseline {base:.1f}), camera→viewer lag p50 "
                  f"{r['lag_p50']:.0f} / p99 {r['lag_p99']:.0f} ms, frames/s per stream min {r['min_fps']:.1f}, "
                  f"lost {r['lost']}/{r['sent']}, cameras {r['cameras_cores']:.2f} cores, load {r['load']:.2f} "
                  f"{'ok' if ok else 'FELL BEHIND'}", flush=True)
            if not ok:
                break
    finally:
        parent.send(("quit",))
        proc.join(5)

    print("\n1. RTP/PS → MPEG-TS, 1080p25 H.264, one process (paired rounds: baseline just before each)")
    print("| streams | CPU (cores) | ms CPU / stream-s | of which event loop | baseline PyAV alone | ratio "
          "| lag p50 / p99 ms | lost | load |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['n']} | {r['cpu_cores']:.2f} | {r['ms_per_stream_s']:.1f} | {r['loop_ms_per_stream_s']:.1f} | "
              f"{r['baseline_ms']:.1f} | {r['ms_per_stream_s'] / r['baseline_ms']:.1f}× | "
              f"{r['lag_p50']:.0f} / {r['lag_p99']:.0f} | {r['lost']} | {r['load']:.2f} |")
    kept = [r["n"] for r in rows if r["ok"]]
    print(f"streams kept up with: {max(kept) if kept else 0}"
          f"{' (every step: raise --steps to find the limit)' if len(kept) == len(rows) else ''}")

    print("\n2. open → first TS keyframe bytes at the viewer (1080p, UDP, one stream)")
    for label, start in (("camera starts at a keyframe", 0), ("camera starts mid-GOP (frame 13 of 25)", 13)):
        got = [await first_keyframe(frames, start) for _ in range(args.trials)]
        pk, ts = [g[0] for g in got], [g[1] for g in got]
        print(f"  {label}: first packet p50 {statistics.median(pk):.0f} ms; first TS bytes p50 "
              f"{statistics.median(ts):.0f} ms, max {max(ts):.0f} ms ({args.trials} trials, load {load():.2f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, nargs="+", default=[1, 16, 32, 48, 64])
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--max-lag-ms", type=float, default=500.0, help="p99 camera→viewer lag a stream may have")
    args = ap.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
