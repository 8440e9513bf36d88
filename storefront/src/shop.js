// The storefront's shop logic on Medusa v1's store API, apart from React so vitest can check it with a fake client:
// the cart id in localStorage, prices in the region's currency, the three checkout steps and plain-words errors.

export const CART_KEY = "storeplane.cart_id";

// Currencies whose Medusa amounts carry no minor unit (Medusa v1 stores 1000 JPY as 1000, 10.00 USD as 1000).
const NO_DIVISION = new Set(["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd",
  "vuv", "xaf", "xof", "xpf"]);

export function formatAmount(amount, currencyCode) {
  if (amount === null || amount === undefined || !currencyCode) return "";
  const code = currencyCode.toLowerCase();
  const value = NO_DIVISION.has(code) ? amount : amount / 100;
  try {
    return new Intl.NumberFormat("en-US", { style: "currency", currency: code.toUpperCase() }).format(value);
  } catch {
    return `${value.toFixed(NO_DIVISION.has(code) ? 0 : 2)} ${code.toUpperCase()}`;
  }
}

// A variant's price in the region: Medusa's calculated price when the list was asked with region_id, else the
// variant's own price in the region's currency (a region-specific one first).
export function variantAmount(variant, region) {
  if (!variant) return null;
  if (typeof variant.calculated_price === "number") return variant.calculated_price;
  const prices = variant.prices || [];
  const regional = prices.find((p) => region && p.region_id === region.id);
  const currency = prices.find(
    (p) => region && !p.region_id && p.currency_code?.toLowerCase() === region.currency_code?.toLowerCase(),
  );
  return (regional || currency)?.amount ?? null;
}

// The lowest variant price of a product, for the catalog ("from $x" when the variants differ).
export function productPrice(product, region) {
  const amounts = (product.variants || []).map((v) => variantAmount(v, region)).filter((a) => a !== null);
  if (!amounts.length) return { amount: null, varies: false };
  const min = Math.min(...amounts);
  return { amount: min, varies: amounts.some((a) => a !== min) };
}

// Only same-origin images are shown: nothing on a page may load from another host (no CDN), so a product whose
// thumbnail lives elsewhere gets the placeholder instead.
export function sameOriginImage(url, origin) {
  if (!url || typeof url !== "string") return null;
  try {
    const resolved = new URL(url, origin);
    return resolved.origin === origin ? resolved.pathname + resolved.search : null;
  } catch {
    return null;
  }
}

// What a person should read when a request fails: Medusa's own message when it sent one, else a plain sentence.
export function errorMessage(err) {
  if (!err) return "Something went wrong. Please try again.";
  const response = err.response;
  if (!response) {
    if (err.isAxiosError || err.request || err.message === "Network Error") {
      return "The store could not be reached. Check your connection and try again.";
    }
    return err.message || "Something went wrong. Please try again.";
  }
  const data = response.data;
  const detail = data && typeof data === "object" ? data.message || data.error : null;
  if (response.status === 404) return detail ? `Not found: ${detail}` : "This item no longer exists.";
  if (response.status >= 500) {
    return `The store had a problem (HTTP ${response.status}). Please try again in a moment.`;
  }
  return detail || `The request was refused (HTTP ${response.status}).`;
}

export function storedCartId(storage) {
  try {
    return storage.getItem(CART_KEY);
  } catch {
    return null;
  }
}

function storeCartId(storage, id) {
  try {
    if (id) storage.setItem(CART_KEY, id);
    else storage.removeItem(CART_KEY);
  } catch {
    // Private mode without storage: the cart lives as long as the page.
  }
}

// The region the shop sells in: the first one Medusa lists (the seed makes exactly one).
export async function loadRegion(client) {
  const { regions } = await client.regions.list();
  if (!regions || !regions.length) {
    throw new Error("This store has no region set up yet, so nothing can be sold. Please come back later.");
  }
  return regions[0];
}

// The stored cart, or null when there is none, it is gone, or it was already turned into an order.
export async function currentCart(client, storage) {
  const id = storedCartId(storage);
  if (!id) return null;
  try {
    const { cart } = await client.carts.retrieve(id);
    if (!cart || cart.completed_at) {
      storeCartId(storage, null);
      return null;
    }
    return cart;
  } catch (err) {
    if (err.response && (err.response.status === 404 || err.response.status === 400)) {
      storeCartId(storage, null);
      return null;
    }
    throw err;
  }
}

export async function ensureCart(client, storage, region) {
  const existing = await currentCart(client, storage);
  if (existing) return existing;
  const { cart } = await client.carts.create({ region_id: region.id });
  storeCartId(storage, cart.id);
  return cart;
}

export async function addToCart(client, storage, region, variantId, quantity = 1) {
  if (!variantId) throw new Error("Choose an option first.");
  const cart = await ensureCart(client, storage, region);
  const { cart: updated } = await client.carts.lineItems.create(cart.id, { variant_id: variantId, quantity });
  return updated;
}

export async function setQuantity(client, cartId, lineId, quantity) {
  if (quantity < 1) return removeLine(client, cartId, lineId);
  const { cart } = await client.carts.lineItems.update(cartId, lineId, { quantity });
  return cart;
}

export async function removeLine(client, cartId, lineId) {
  const { cart } = await client.carts.lineItems.delete(cartId, lineId);
  return cart;
}

export function itemCount(cart) {
  return (cart?.items || []).reduce((n, item) => n + item.quantity, 0);
}

export const ADDRESS_FIELDS = [
  { name: "first_name", label: "First name", autoComplete: "given-name" },
  { name: "last_name", label: "Last name", autoComplete: "family-name" },
  { name: "address_1", label: "Address", autoComplete: "address-line1" },
  { name: "city", label: "City", autoComplete: "address-level2" },
  { name: "postal_code", label: "Postal code", autoComplete: "postal-code" },
];

// Step 1's form checked before anything is sent: every field filled, a plausible e-mail, a country of the region.
export function validateAddress(form, region) {
  const errors = {};
  const email = (form.email || "").trim();
  if (!email) errors.email = "Enter your e-mail address.";
  else if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) errors.email = "Enter a valid e-mail address.";
  for (const field of ADDRESS_FIELDS) {
    if (!(form[field.name] || "").trim()) errors[field.name] = `Enter your ${field.label.toLowerCase()}.`;
  }
  const countries = (region?.countries || []).map((c) => c.iso_2);
  if (!form.country_code) errors.country_code = "Choose a country.";
  else if (!countries.includes(form.country_code)) errors.country_code = "This store does not ship to that country.";
  return errors;
}

export async function saveAddress(client, cartId, form) {
  const address = { country_code: form.country_code };
  for (const field of ADDRESS_FIELDS) address[field.name] = form[field.name].trim();
  if ((form.phone || "").trim()) address.phone = form.phone.trim();
  const { cart } = await client.carts.update(cartId, { email: form.email.trim(), shipping_address: address });
  return cart;
}

export async function shippingOptions(client, cartId) {
  const { shipping_options: options } = await client.shippingOptions.listCartOptions(cartId);
  return options || [];
}

export async function chooseShipping(client, cartId, optionId) {
  if (!optionId) throw new Error("Choose a shipping option.");
  const { cart } = await client.carts.addShippingMethod(cartId, { option_id: optionId });
  return cart;
}

export async function startPayment(client, cartId) {
  const { cart } = await client.carts.createPaymentSessions(cartId);
  return cart;
}

// Step 3: select the provider's session, then complete the cart. Only an order ends checkout (and clears the
// stored cart); anything else leaves the cart as it is and says why.
export async function placeOrder(client, storage, cartId, providerId) {
  if (!providerId) throw new Error("Choose a payment method.");
  await client.carts.setPaymentSession(cartId, { provider_id: providerId });
  const result = await client.carts.complete(cartId);
  if (result.type !== "order") {
    throw new Error("The payment was not accepted, so no order was placed. Please try again.");
  }
  storeCartId(storage, null);
  return result.data;
}

// Which step of checkout a cart is at: 1 address, 2 shipping, 3 payment. Each needs the ones before it.
export function checkoutStep(cart) {
  if (!cart?.email || !cart?.shipping_address?.address_1 || !cart?.shipping_address?.country_code) return 1;
  if (!cart.shipping_methods || !cart.shipping_methods.length) return 2;
  return 3;
}
