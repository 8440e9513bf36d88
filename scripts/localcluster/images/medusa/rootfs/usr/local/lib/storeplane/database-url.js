// Builds a postgres:// URL from DATABASE_HOST/PORT/USER/PASSWORD/NAME, each part URL-encoded. Used by
// medusa-config.js (so `medusa ...` run through `kubectl exec` finds the database too) and, printing the URL, by the
// entrypoint for its wait for PostgreSQL.
function databaseUrlFromParts(env) {
  if (!env.DATABASE_HOST) return undefined;
  const part = (name, fallback) => encodeURIComponent(env[name] || fallback);
  const password = env.DATABASE_PASSWORD ? ":" + part("DATABASE_PASSWORD") : "";
  const auth = env.DATABASE_USER ? `${part("DATABASE_USER")}${password}@` : "";
  const host = env.DATABASE_HOST.includes(":") ? `[${env.DATABASE_HOST}]` : env.DATABASE_HOST;
  return `postgres://${auth}${host}:${env.DATABASE_PORT || "5432"}/${part("DATABASE_NAME", "medusa")}`;
}

module.exports = { databaseUrlFromParts };

if (require.main === module) {
  const url = databaseUrlFromParts(process.env);
  if (url) process.stdout.write(url);
}
