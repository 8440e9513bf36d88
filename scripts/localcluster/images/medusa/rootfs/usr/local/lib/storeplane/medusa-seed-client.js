// Runs the engine setup's seed from inside the Medusa pod (`kubectl exec ... node <this file> <store name>`): logs in
// to the admin API as the store's admin, then POSTs to this server's /storeplane/seed (medusa-seed.js). The secrets
// come from the environment, never argv: ADMIN_EMAIL, ADMIN_PASSWORD, PUBLISHABLE_KEY (PORT, default 9000); the store
// name (no secret) is the one argument. Prints the seed's report as one JSON line on stdout. Exit 0 seeded; 2 login refused; 3 seed refused its input;
// 1 anything else (the reason on stderr, without any secret).
const base = `http://127.0.0.1:${process.env.PORT || 9000}`;

async function post(path, body, headers = {}) {
  const response = await fetch(base + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: response.status, json, text };
}

function fail(code, message) {
  process.stderr.write(`storeplane seed: ${message}\n`);
  process.exit(code);
}

(async () => {
  const login = await post("/admin/auth/token", {
    email: process.env.ADMIN_EMAIL,
    password: process.env.ADMIN_PASSWORD,
  });
  if (login.status !== 200 || !login.json || !login.json.access_token) {
    fail(2, `the admin login was refused (HTTP ${login.status})`);
  }
  const seed = await post(
    "/storeplane/seed",
    { store_name: process.argv[2], publishable_key: process.env.PUBLISHABLE_KEY },
    { authorization: `Bearer ${login.json.access_token}` },
  );
  if (seed.status === 200 && seed.json && seed.json.ok) {
    process.stdout.write(JSON.stringify(seed.json) + "\n");
    return;
  }
  const reason = (seed.json && seed.json.message) || seed.text.slice(0, 300);
  fail(seed.status === 400 ? 3 : 1, `the seed failed (HTTP ${seed.status}): ${reason}`);
})().catch((error) => fail(1, error.message));
