// Prints a postgres:// URL built from DATABASE_HOST/PORT/USER/PASSWORD/NAME, each part URL-encoded.
const e = process.env;
const part = (name, fallback) => encodeURIComponent(e[name] || fallback);
const auth = e.DATABASE_USER ? `${part("DATABASE_USER")}${e.DATABASE_PASSWORD ? ":" + part("DATABASE_PASSWORD") : ""}@` : "";
const host = e.DATABASE_HOST.includes(":") ? `[${e.DATABASE_HOST}]` : e.DATABASE_HOST;
process.stdout.write(`postgres://${auth}${host}:${e.DATABASE_PORT || "5432"}/${part("DATABASE_NAME", "medusa")}`);
