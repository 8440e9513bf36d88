// Runtime settings the image's entrypoint writes from the container's environment (MEDUSA_PUBLISHABLE_KEY,
// STORE_NAME): the same build serves every store.
export async function loadConfig(fetchImpl = fetch) {
  const response = await fetchImpl("/config.json", { cache: "no-store", headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`The store's settings could not be loaded (HTTP ${response.status}).`);
  const data = await response.json();
  return {
    publishableKey: typeof data.publishableKey === "string" && data.publishableKey ? data.publishableKey : null,
    storeName: typeof data.storeName === "string" && data.storeName.trim() ? data.storeName.trim() : "Store",
  };
}
