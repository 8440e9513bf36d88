// Medusa 1.20 configuration of storeplane.local/medusa:local: everything comes from the environment, which the
// entrypoint completes (DATABASE_URL built from DATABASE_* parts). No Redis: Medusa uses its in-memory event bus.
module.exports = {
  projectConfig: {
    database_url: process.env.DATABASE_URL,
    database_type: "postgres",
    jwt_secret: process.env.JWT_SECRET,
    cookie_secret: process.env.COOKIE_SECRET,
    store_cors: process.env.STORE_CORS || "",
    admin_cors: process.env.ADMIN_CORS || "",
  },
  plugins: [],
  modules: {},
  featureFlags: {},
};
