// Vite build of the storefront SPA: hashed assets under /assets/ (nginx caches them for a year), no source maps,
// nothing loaded from another origin. The runtime config (/config.json) is written by the image's entrypoint.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "dist",
    assetsDir: "assets",
    sourcemap: false,
    // Small images and fonts would otherwise be inlined anyway; keep every asset a same-origin file or data: URI.
    assetsInlineLimit: 4096,
  },
  server: {
    // `npm run dev` against a port-forwarded Medusa: `kubectl port-forward svc/<id>-medusa 9000:9000`.
    proxy: { "/store": "http://127.0.0.1:9000" },
  },
  test: {
    environment: "node",
    include: ["tests/**/*.test.js"],
  },
});
