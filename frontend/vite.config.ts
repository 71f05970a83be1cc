import { defineConfig } from "vite";

// Build into the Python package so FastAPI serves it; `npm run dev` proxies the API to a running server.
const API = process.env.SHARPEYES_API ?? "http://127.0.0.1:8000";

export default defineConfig({
  base: "/",
  build: { outDir: "../app/web/dist", emptyOutDir: true, chunkSizeWarningLimit: 2500, sourcemap: false },
  server: {
    proxy: {
      "/api": API,
      "/tiles": API,
      "/ws": { target: API.replace(/^http/, "ws"), ws: true },
    },
  },
});
