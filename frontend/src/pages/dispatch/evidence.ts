// An incident's evidence in the dispatch console: the recordings of the cameras that see its spot, from
// shortly before it was opened until it was closed (or now). Gathering asks every camera's device and is
// audited, so it happens when the dispatcher asks for it, never on selecting an incident. A camera's mini
// timeline plays, on a click, in the recordings player above the list (reason: the incident's number).
import { api, ok, type Schemas } from "../../api/client";
import { h } from "../../dom";
import { errorText } from "../../errors";
import { t } from "../../i18n";
import { fmtDist, fmtTime, tf } from "../../ui/dx";
import { fmtDuration, recordedIn, RecordingsPlayer, timeAt, timelineTrack, type Range } from "../../ui/recordings";

type Evidence = Schemas["Evidence"];
type EvidenceCamera = Schemas["EvidenceCamera"];
/** What a camera's device answered about its recordings in a window (the evidence list, the missing-person list). */
type Answered = Pick<EvidenceCamera, "camera_id" | "name" | "state" | "segments" | "complete" | "reason">;

/** A camera's recordings in ``win``: its mini timeline (a click plays from there in ``player``), or why its
 * device gave none. */
export function recordingsDetail(c: Answered, win: Range, player: RecordingsPlayer): HTMLElement {
  if (c.state === "answered") {
    const track = timelineTrack(c.segments, win, { mini: true });
    track.addEventListener("click", (ev) => {
      const at = timeAt(track, (ev as MouseEvent).clientX, win);
      void player.show({ id: c.camera_id, name: c.name }, win, { segments: c.segments, complete: c.complete ?? true })
        .then(() => player.playAt(at));
    });
    return h("div", { class: "rec-ev-tl" }, track,
      h("span", { class: "muted" }, c.segments.length ? fmtDuration(recordedIn(c.segments, win)) : t("rec.ev.nothing")));
  }
  if (c.state === "no_answer") return h("div", { class: "rec-ev-why" }, c.reason ?? "");
  return h("div", { class: "rec-ev-why muted" }, t("rec.ev.not_gb"));
}

export class EvidencePanel {
  readonly el = h("div", { class: "rec-evidence", "data-testid": "evidence" });
  private incident: number | null = null;
  private data: Evidence | null = null;
  private state: "idle" | "loading" | "ready" | "failed" = "idle";
  private error = "";
  readonly player = new RecordingsPlayer({
    reason: () => tf("rec.reason_incident", { id: this.incident ?? "" }),
    incidentId: () => this.incident,
  });

  /** Another incident selected: what was gathered for the previous one goes. */
  setIncident(id: number | null): void {
    if (id === this.incident) return;
    this.incident = id;
    this.data = null;
    this.state = "idle";
    this.player.close();
    this.draw();
  }

  async load(): Promise<void> {
    const id = this.incident;
    if (id === null) return;
    this.state = "loading";
    this.draw();
    try {
      const r = await ok(api.GET("/api/v1/incidents/{incident_id}/evidence", { params: { path: { incident_id: id } } }));
      if (id !== this.incident) return;
      this.data = r;
      this.state = "ready";
    } catch (e) {
      if (id !== this.incident) return;
      this.error = errorText(e);
      this.state = "failed";
    }
    this.draw();
  }

  private window(): Range | null {
    return this.data ? { start: new Date(this.data.start), end: new Date(this.data.end) } : null;
  }

  draw(): void {
    if (this.incident === null) { this.el.replaceChildren(); return; }
    const head = h("div", { class: "rec-ev-head" },
      h("button", { class: "btn", type: "button", "data-testid": "evidence-load", disabled: this.state === "loading",
        onclick: () => void this.load() }, t(this.data ? "rec.ev.reload" : "rec.ev.load")),
      this.data ? h("span", { class: "muted", "data-testid": "evidence-window" },
        `${t("rec.ev.window")} ${fmtTime(this.data.start, true)} – ${fmtTime(this.data.end, true)}`) : null);
    const body: Array<HTMLElement | null> = [head];
    if (this.state === "idle") body.push(h("div", { class: "hint" }, t("rec.ev.hint")));
    if (this.state === "loading") body.push(h("div", { class: "muted", role: "status" }, t("rec.ev.loading")));
    if (this.state === "failed") body.push(h("div", { class: "dx-msg", role: "status" }, `${t("rec.ev.failed")} · ${this.error}`));
    this.player.draw();
    body.push(this.player.el);
    if (this.state === "ready" && this.data) {
      body.push(this.data.cameras.length
        ? h("ul", { class: "rec-ev-list", "data-testid": "evidence-list" }, ...this.data.cameras.map((c) => this.row(c)))
        : h("div", { class: "muted" }, t("rec.ev.none")));
    }
    this.el.replaceChildren(...body.filter((x): x is HTMLElement => x !== null));
  }

  private row(c: EvidenceCamera): HTMLElement {
    const win = this.window()!;
    const detail = recordingsDetail(c, win, this.player);
    return h("li", { class: `rec-ev-cam ${c.state}`, "data-camera": c.camera_id, "data-state": c.state },
      h("div", { class: "rec-ev-main" }, h("b", {}, c.name), h("span", { class: "muted" }, fmtDist(c.distance_m)),
        h("span", { class: `pill ev-${c.state}` }, t(`rec.ev.${c.state}`))),
      detail);
  }
}
