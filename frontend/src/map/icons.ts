// Icon atlas drawn on a canvas at start-up (no image request): camera classes and the target arrow.
export const ICON_SIZE = 64;
export const ICONS = ["cls1", "cls2", "cls3", "arrow"] as const;

export function iconAtlas(): { atlas: HTMLCanvasElement; mapping: Record<string, object> } {
  const c = document.createElement("canvas");
  c.width = ICON_SIZE * ICONS.length;
  c.height = ICON_SIZE;
  const g = c.getContext("2d")!;
  g.fillStyle = "#fff";
  const m = ICON_SIZE / 2;
  const mapping: Record<string, object> = {};
  ICONS.forEach((name, i) => {
    const x0 = i * ICON_SIZE;
    g.save();
    g.translate(x0 + m, m);
    g.beginPath();
    if (name === "cls1") { // 一类: star — the most important sites
      for (let k = 0; k < 10; k++) {
        const r = k % 2 ? 12 : 28;
        const a = (Math.PI / 5) * k - Math.PI / 2;
        g.lineTo(Math.cos(a) * r, Math.sin(a) * r);
      }
    } else if (name === "cls2") { // 二类: diamond
      g.moveTo(0, -26); g.lineTo(24, 0); g.lineTo(0, 26); g.lineTo(-24, 0);
    } else if (name === "cls3") { // 三类: disc
      g.arc(0, 0, 20, 0, Math.PI * 2);
    } else { // arrow pointing north; rotated by heading
      g.moveTo(0, -28); g.lineTo(20, 24); g.lineTo(0, 12); g.lineTo(-20, 24);
    }
    g.closePath();
    g.fill();
    g.restore();
    mapping[name] = { x: x0, y: 0, width: ICON_SIZE, height: ICON_SIZE, mask: true, anchorY: m };
  });
  return { atlas: c, mapping };
}

/** The same shapes as inline SVG for the legend. */
export function iconSvg(name: (typeof ICONS)[number], color: string, size = 16): string {
  const paths: Record<string, string> = {
    cls1: "M8 1 L9.9 5.6 L14.7 5.8 L10.9 8.9 L12.2 13.6 L8 11 L3.8 13.6 L5.1 8.9 L1.3 5.8 L6.1 5.6 Z",
    cls2: "M8 1.5 L14 8 L8 14.5 L2 8 Z",
    cls3: "M8 3 A5 5 0 1 0 8.01 3 Z",
    arrow: "M8 1 L13 14 L8 11 L3 14 Z",
  };
  return `<svg width="${size}" height="${size}" viewBox="0 0 16 16"><path d="${paths[name]}" fill="${color}"/></svg>`;
}
