// Medusa 1.20 configuration of storeplane.local/medusa:local: everything comes from the environment (DATABASE_URL,
// or the DATABASE_* parts). No Redis: Medusa uses its in-memory event bus and cache modules.
const { databaseUrlFromParts } = require("/usr/local/lib/storeplane/database-url.js");

module.exports = {
  projectConfig: {
    database_url: process.env.DATABASE_URL || databaseUrlFromParts(process.env),
    database_type: "postgres",
    jwt_secret: process.env.JWT_SECRET,
    cookie_secret: process.env.COOKIE_SECRET,
    // Comma-separated origins; the chart passes the store's own URL (scheme, host and port).
    store_cors: process.env.STORE_CORS || "",
    admin_cors: process.env.ADMIN_CORS || "",
  },
  plugins: [
    // The region's payment and fulfillment providers ("manual"), which the engine setup's seed uses.
    "medusa-payment-manual",
    "medusa-fulfillment-manual",
    // The v1 admin dashboard at /app, built into /app/build when the image is built (setup.sh): serving it needs
    // no network and no webpack at run time.
    {
      resolve: "@medusajs/admin",
      options: { serve: true, autoRebuild: false, path: "/app", outDir: "build", backend: "/" },
    },
  ],
  modules: {},
  // No usage analytics: the dashboard would otherwise offer to send them to Segment's cloud.
  featureFlags: { analytics: false },
};
