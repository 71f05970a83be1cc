// /wall: the command-centre display — unattended, scales from 1920×1080 to 3840×2160, never scrolls.
// A new incident: the map flies there and opens its panel (shell), and its best cameras go on the video wall.
import "../dispatch.css";
import { api, ok } from "../api/client";
import { h } from "../dom";
import { t } from "../i18n";
import type { Incident } from "../map/store";
import { typeName } from "../ui/dx";
import { VideoWall } from "../ui/videowall";
import { WallAlarmCard } from "../ui/watchlist_alarm";
import { mountMapPage } from "./shell";

export function mount(root: HTMLElement): void {
  const wall = new VideoWall({ closable: true, onClose: () => box.classList.remove("open") });
  const box = h("div", { class: "wall-video", "data-testid": "wall-video" }, wall.el);
  const alarm = new WallAlarmCard(); // a watchlist alarm: its plate, checkpoint and image beside the panel
  let latest = 0;
  const onNewIncident = async (inc: Incident) => {
    latest = inc.id;
    if (inc.type === "watchlist") void alarm.show(inc.id);
    try {
      const seen = await ok(api.GET("/api/v1/callup/seeing", { params: { query: { lon: inc.lon, lat: inc.lat } } }));
      const ids = seen.cameras.slice(0, 4).map((c: { id: number }) => c.id);
      if (!ids.length || latest !== inc.id) return;
      wall.setLayout(ids.length > 1 ? 4 : 1);
      wall.setTitle(`${t("dx.wall")} · #${inc.id} ${typeName(inc)}`);
      await wall.open(ids, `${t("dx.auto_callup")} #${inc.id}`, inc.id);
      box.dataset.incident = String(inc.id);
      box.classList.add("open");
    } catch { /* no call-up right or no camera: the panel alone */ }
  };
  mountMapPage(root, { page: "page.wall", className: "wall", kpi: true, followIncidents: true, panels: () => [],
    onNewIncident: (inc) => void onNewIncident(inc) });
  root.append(box, alarm.el);
}
