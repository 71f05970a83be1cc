// Players for real cameras' streams behind a signed play URL, which the platform serves itself (the
// camera's address and credentials never reach the browser; a sign-out or a withdrawn grant stops the
// stream): HLS via hls.js, HTTP-FLV and live MPEG-TS (GB/T 28181 channels, remuxed by the platform) via
// mpegts.js, WebRTC via WHEP (signalled through the platform).
// Each library is loaded only when a tile needs it, so pages without such cameras never download it.

export type Stop = () => void;

/** Start playing ``url`` in ``video``; ``fail`` is called once if the stream cannot be played. */
export async function play(format: string, url: string, video: HTMLVideoElement, fail: () => void): Promise<Stop> {
  video.muted = true; // autoplay is allowed only for muted video
  video.playsInline = true;
  try {
    if (format === "hls") return await playHls(url, video, fail);
    if (format === "flv" || format === "ts") return await playMpegts(format === "ts" ? "mpegts" : "flv", url, video, fail);
    if (format === "webrtc") return await playWhep(url, video, fail);
  } catch {
    fail();
  }
  return () => {};
}

async function playHls(url: string, video: HTMLVideoElement, fail: () => void): Promise<Stop> {
  const { default: Hls } = await import("hls.js/light"); // no subtitles, alternate audio or DRM: cameras have none
  if (!Hls.isSupported()) { // Safari plays HLS natively
    video.src = url;
    void video.play().catch(() => {});
    return () => video.removeAttribute("src");
  }
  const hls = new Hls({ lowLatencyMode: true, backBufferLength: 30 });
  hls.on(Hls.Events.ERROR, (_e, data) => { if (data.fatal) fail(); });
  hls.loadSource(url);
  hls.attachMedia(video);
  hls.on(Hls.Events.MANIFEST_PARSED, () => void video.play().catch(() => {}));
  return () => hls.destroy();
}

async function playMpegts(type: "flv" | "mpegts", url: string, video: HTMLVideoElement, fail: () => void): Promise<Stop> {
  const { default: mpegts } = await import("mpegts.js");
  if (!mpegts.isSupported()) { fail(); return () => {}; }
  // live: no stash buffer. The platform's own MPEG-TS (GB/T 28181 channels) arrives in real time: chase its
  // live edge, so that latency does not grow over hours on a wall. The defaults (chase above 1.5 s) left a
  // viewer joining a shared stream (its GOP cache) ~0.7 s behind for good (bench/video_browser_bench.py:
  // 860 → 384 ms glass to glass with these). An HTTP-FLV origin may burst what it holds: chasing would jump
  // to its end, so FLV keeps the player's defaults.
  const ts = { enableStashBuffer: false, liveBufferLatencyChasing: true, liveBufferLatencyMaxLatency: 0.6, liveBufferLatencyMinRemain: 0.2 };
  const player = type === "mpegts" ? mpegts.createPlayer({ type, isLive: true, url }, ts)
    : mpegts.createPlayer({ type, isLive: true, url }, { enableStashBuffer: false });
  player.on(mpegts.Events.ERROR, () => fail());
  player.attachMediaElement(video);
  player.load();
  void Promise.resolve(player.play()).catch(() => {});
  return () => { player.destroy(); };
}

/** WHEP (RFC 9725): POST our SDP offer, receive the answer; the media server then sends the video. */
async function playWhep(url: string, video: HTMLVideoElement, fail: () => void): Promise<Stop> {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  pc.ontrack = (ev) => {
    if (video.srcObject !== ev.streams[0]) video.srcObject = ev.streams[0] ?? new MediaStream([ev.track]);
    void video.play().catch(() => {});
  };
  pc.onconnectionstatechange = () => { if (pc.connectionState === "failed") fail(); };
  await pc.setLocalDescription(await pc.createOffer());
  await iceGathered(pc); // one offer with every candidate: no trickle ICE needed on the server's side
  const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription!.sdp });
  if (!r.ok) { pc.close(); fail(); return () => {}; }
  const session = r.headers.get("Location");
  await pc.setRemoteDescription({ type: "answer", sdp: await r.text() });
  return () => {
    pc.close();
    if (session) void fetch(new URL(session, r.url), { method: "DELETE" }).catch(() => {});
  };
}

function iceGathered(pc: RTCPeerConnection, timeoutMs = 3000): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") { pc.removeEventListener("icegatheringstatechange", done); resolve(); } };
    pc.addEventListener("icegatheringstatechange", done);
    window.setTimeout(resolve, timeoutMs); // send what we have: host candidates suffice on a closed network
  });
}
