// Entry: one bundle, one module per page chosen by the path; a login form until there is a session.
import "./style.css";
import { loginForm, startSession } from "./auth";
import { onLangChange } from "./i18n";

const PAGES: Record<string, () => Promise<{ mount: (root: HTMLElement) => void }>> = {
  wall: () => import("./pages/wall"),
  dispatch: () => import("./pages/dispatch"),
  planning: () => import("./pages/planning"),
  m: () => import("./pages/mobile"),
  admin: () => import("./pages/admin"),
  audit: () => import("./pages/audit"),
  devices: () => import("./pages/devices"),
  watchlists: () => import("./pages/watchlists"),
};

const root = document.getElementById("app")!;
const name = location.pathname.replace(/^\/+|\/+$/g, "") || "wall";

async function enter(): Promise<void> {
  const page = await (PAGES[name] ?? PAGES.wall)();
  page.mount(root);
}

if (startSession()) {
  void enter();
} else {
  const show = () => root.replaceChildren(loginForm(() => location.reload()));
  onLangChange(show);
  show();
}
