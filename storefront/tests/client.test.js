// The client on the page's origin: the publishable key header on every store call, and a non-JSON answer (the
// storefront's own index.html while Medusa is down) turned into a plain-words error instead of an empty shop.
import { describe, expect, it } from "vitest";
import { NOT_ANSWERING, createClient } from "../src/client.js";
import { errorMessage, loadRegion } from "../src/shop.js";

function adapter(reply, seen) {
  return async (config) => {
    seen.push(config);
    return { status: 200, statusText: "OK", config, request: {}, ...reply };
  };
}

describe("client", () => {
  it("calls the store API on the page's origin with the publishable key", async () => {
    const seen = [];
    const json = { headers: { "content-type": "application/json; charset=utf-8" }, data: { regions: [{ id: "r" }] } };
    const client = createClient({ publishableKey: "pk_abc" }, "http://shop.localhost:8080", adapter(json, seen));
    expect((await loadRegion(client)).id).toBe("r");
    expect(seen[0].baseURL + seen[0].url).toBe("http://shop.localhost:8080/store/regions");
    expect(seen[0].headers["x-publishable-api-key"]).toBe("pk_abc");
  });

  it("sends no key header when the store has none", async () => {
    const seen = [];
    const json = { headers: { "content-type": "application/json" }, data: { regions: [{ id: "r" }] } };
    await loadRegion(createClient({ publishableKey: null }, "http://shop.localhost", adapter(json, seen)));
    expect(seen[0].headers["x-publishable-api-key"]).toBeUndefined();
  });

  it("reads an HTML answer as the service not answering", async () => {
    const html = { headers: { "content-type": "text/html" }, data: '<!doctype html><div id="root"></div>' };
    const client = createClient({ publishableKey: null }, "http://shop.localhost", adapter(html, []));
    const err = await loadRegion(client).catch((e) => e);
    expect(errorMessage(err)).toBe(NOT_ANSWERING);
  });
});
