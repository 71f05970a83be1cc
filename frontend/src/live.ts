// The websocket feed: authenticate, subscribe, snapshot then deltas; reconnects with backoff forever.
// Incidents, dispatch and camera frames carry an event id (so do keepalives and the snapshot: where in the
// server's event log the feed stands); a reconnect, to whichever API process, subscribes with the last one
// ("since") and first gets the events missed meanwhile, or a "reload" frame when the server no longer has
// them (the snapshot that follows is then the state).
import { accessToken, refresh } from "./auth";

export type ConnState = "connecting" | "live" | "reconnecting" | "expired";
export type Frame = { type: string; [k: string]: unknown };

export interface LiveOptions {
  layers: string[];
  bbox?: [number, number, number, number];
  onFrame: (f: Frame) => void;
  onState: (s: ConnState) => void;
}

export class LiveFeed {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private lastFrame = 0;
  private watchdog: number | undefined;
  private stopped = false;
  private readonly decoder = new TextDecoder();
  private lastId: string | null = null; // the newest event id seen ("<ms>-<seq>")

  constructor(private readonly opts: LiveOptions) {}

  start(): void {
    this.connect();
    // No frame (not even a keepalive) for 40 s: the connection is dead even if the socket says open.
    this.watchdog = window.setInterval(() => {
      if (this.ws && this.ws.readyState === WebSocket.OPEN && Date.now() - this.lastFrame > 40_000) this.ws.close();
    }, 5_000);
  }

  stop(): void {
    this.stopped = true;
    window.clearInterval(this.watchdog);
    this.ws?.close();
  }

  /** For tests and the operator's "reconnect" action. */
  drop(): void {
    this.ws?.close();
  }

  private connect(): void {
    if (this.stopped) return;
    this.opts.onState(this.attempt === 0 ? "connecting" : "reconnecting");
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/ws`);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    let expired = false;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "auth", token: accessToken() }));
      ws.send(JSON.stringify({ type: "subscribe", layers: this.opts.layers, bbox: this.opts.bbox ?? null,
        ...(this.lastId ? { since: this.lastId } : {}) }));
    };
    ws.onmessage = (ev) => {
      this.lastFrame = Date.now();
      const text = typeof ev.data === "string" ? ev.data : this.decoder.decode(ev.data as ArrayBuffer);
      const frame = JSON.parse(text) as Frame;
      if (frame.type === "reload") this.lastId = null; // the server's log no longer reaches back: start over
      else if (typeof frame.event_id === "string" && newer(frame.event_id, this.lastId)) this.lastId = frame.event_id;
      if (frame.type === "snapshot") {
        this.attempt = 0;
        this.opts.onState("live");
      } else if (frame.type === "error" && frame.code === "grant_expired") {
        expired = true;
        this.opts.onState("expired");
      }
      this.opts.onFrame(frame);
    };
    ws.onclose = async (ev) => {
      if (this.ws !== ws || this.stopped) return;
      this.ws = null;
      if (expired) return;
      if (ev.code === 4401) await refresh(); // token expired while we were away
      this.attempt += 1;
      this.opts.onState("reconnecting");
      // Exponential backoff with jitter, capped: a restarted server is not stormed by every wall at once.
      const delay = Math.min(15_000, 500 * 2 ** Math.min(this.attempt - 1, 5)) * (0.7 + Math.random() * 0.6);
      window.setTimeout(() => this.connect(), delay);
    };
  }
}

/** Is event id a newer than b (ids "<ms>-<seq>" compare as number pairs)? */
export function newer(a: string, b: string | null): boolean {
  if (b === null) return true;
  const [am, as] = a.split("-").map(Number), [bm, bs] = b.split("-").map(Number);
  return am !== bm ? am > bm : as > bs;
}
