// Medusa v1's JS client on the page's own origin: the Ingress sends /store/* to Medusa, so no backend URL is baked
// into the build and no request leaves the store's host.
import Medusa from "@medusajs/medusa-js";

export function createClient(config, origin = window.location.origin) {
  return new Medusa({
    baseUrl: origin,
    maxRetries: 1,
    ...(config.publishableKey ? { publishableApiKey: config.publishableKey } : {}),
  });
}
