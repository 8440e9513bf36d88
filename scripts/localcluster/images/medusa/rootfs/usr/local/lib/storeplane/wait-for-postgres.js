// Waits until PostgreSQL at DATABASE_URL accepts a login (DB_WAIT_SECONDS, default 180), logging without secrets.
const { Client } = require("/app/node_modules/pg");

const url = new URL(process.env.DATABASE_URL);
const where = `${url.hostname}:${url.port || 5432}${url.pathname}`;
const deadline = Date.now() + 1000 * Number(process.env.DB_WAIT_SECONDS || 180);

async function attempt() {
  const client = new Client({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return null;
  } catch (err) {
    return err.code || err.message;
  } finally {
    await client.end().catch(() => {});
  }
}

(async () => {
  let last = "";
  for (;;) {
    const error = await attempt();
    if (error === null) {
      console.log(`medusa: PostgreSQL at ${where} is ready`);
      return;
    }
    if (Date.now() > deadline) {
      console.error(`medusa: PostgreSQL at ${where} not ready in time (${error})`);
      process.exit(1);
    }
    if (error !== last) console.log(`medusa: waiting for PostgreSQL at ${where} (${error})`);
    last = error;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
})();
