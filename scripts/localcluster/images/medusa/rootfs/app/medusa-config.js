// Medusa 1.20 configuration of storeplane.local/medusa:local: everything comes from the environment (DATABASE_URL,
// or the DATABASE_* parts). No Redis: Medusa uses its in-memory event bus and cache modules.
const { databaseUrlFromParts } = require("/usr/local/lib/storeplane/database-url.js");

module.exports = {
  projectConfig: {
    database_url: process.env.DATABASE_URL || databaseUrlFromParts(process.env),
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
