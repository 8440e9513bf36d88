// The project's own routes, which Medusa 1.x mounts (from /app/dist/api) before its core API:
// - GET /admin (exactly): the contract's admin URL of a store is <store url>/admin, so a browser opening it lands on
//   the admin dashboard's login at /app; every /admin/... path stays Medusa's admin API.
// - POST /storeplane/seed: the engine setup's seed (/usr/local/lib/storeplane/medusa-seed.js), run inside this server
//   with Medusa's own services. Only from inside the pod (loopback) and with an admin's token; the store's Ingress
//   does not route /storeplane at all.
const express = require("express");
const { authenticate } = require("@medusajs/medusa");
const { seedShop } = require("/usr/local/lib/storeplane/medusa-seed.js");

// The socket's peer, not req.ip: Medusa trusts one proxy hop, so req.ip would believe a client's X-Forwarded-For.
function fromLoopback(req, res, next) {
  const peer = req.socket.remoteAddress || "";
  if (peer === "127.0.0.1" || peer === "::1" || peer === "::ffff:127.0.0.1") return next();
  res.status(403).json({ type: "not_allowed", message: "The seed runs only from inside the Medusa pod." });
}

async function seed(req, res) {
  const { store_name: storeName, publishable_key: publishableKey } = req.body || {};
  try {
    const result = await seedShop(req.scope, { storeName, publishableKey, userId: req.user && req.user.userId });
    res.json(result);
  } catch (error) {
    const status = error.type === "invalid_data" ? 400 : 500;
    req.scope.resolve("logger").error(`storeplane seed failed: ${error.stack || error.message}`);
    res.status(status).json({ type: error.type || "unknown_error", message: error.message });
  }
}

exports.default = function storeplaneRoutes() {
  const router = express.Router();
  router.get("/admin", (_req, res) => res.redirect(302, "/app"));
  router.post("/storeplane/seed", fromLoopback, express.json(), authenticate(), seed);
  return router;
};
