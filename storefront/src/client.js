// Medusa v1's JS client on the page's own origin: the Ingress sends /store/* to Medusa, so no backend URL is baked
// into the build and no request leaves the store's host.
import Medusa from "@medusajs/medusa-js";

export const NOT_ANSWERING = "The shop's service is not answering right now. Please try again in a moment.";

export function createClient(config, origin = window.location.origin, axiosAdapter = undefined) {
  const medusa = new Medusa({
    baseUrl: origin,
    maxRetries: 1,
    ...(config.publishableKey ? { publishableApiKey: config.publishableKey } : {}),
    ...(axiosAdapter ? { axiosAdapter } : {}),
  });
  // Medusa always answers JSON. Anything else (while Medusa is down the Ingress may hand /store to the storefront,
  // which answers with its index.html) must read as "not answering", not as an empty shop.
  medusa.client.axiosClient.interceptors.response.use((response) => {
    const type = String(response.headers?.["content-type"] || "");
    if (!type.includes("application/json")) throw new Error(NOT_ANSWERING);
    return response;
  });
  return medusa;
}
