// The shop logic against a fake Medusa client that records every call: the cart id's life in storage, the order
// of the checkout calls, address checks against the region, prices and the words shown for API errors.
import { describe, expect, it } from "vitest";
import {
  CART_KEY,
  addToCart,
  checkoutStep,
  currentCart,
  ensureCart,
  errorMessage,
  formatAmount,
  placeOrder,
  productPrice,
  sameOriginImage,
  saveAddress,
  validateAddress,
  variantAmount,
} from "../src/shop.js";

const REGION = {
  id: "reg_1",
  currency_code: "usd",
  countries: [
    { iso_2: "us", display_name: "United States" },
    { iso_2: "ca", display_name: "Canada" },
  ],
};

function memoryStorage(initial = {}) {
  const data = { ...initial };
  return {
    data,
    getItem: (k) => (k in data ? data[k] : null),
    setItem: (k, v) => {
      data[k] = String(v);
    },
    removeItem: (k) => {
      delete data[k];
    },
  };
}

function httpError(status, message) {
  const err = new Error(`Request failed with status code ${status}`);
  err.isAxiosError = true;
  err.response = { status, data: message ? { type: "invalid_data", message } : "" };
  return err;
}

// A fake client: `carts` holds server-side carts; every call is logged as "resource.method(args)".
function fakeClient({ carts = {}, completeType = "order" } = {}) {
  const calls = [];
  let next = 1;
  const cartOf = (id) => {
    if (!carts[id]) throw httpError(404, `Cart with ${id} was not found`);
    return carts[id];
  };
  const client = {
    calls,
    regions: { list: async () => ({ regions: [REGION] }) },
    carts: {
      retrieve: async (id) => {
        calls.push(`carts.retrieve(${id})`);
        return { cart: cartOf(id) };
      },
      create: async (body) => {
        const id = `cart_${next++}`;
        calls.push(`carts.create(${body.region_id})`);
        carts[id] = { id, region_id: body.region_id, items: [] };
        return { cart: carts[id] };
      },
      update: async (id, body) => {
        calls.push(`carts.update(${id})`);
        Object.assign(cartOf(id), body);
        return { cart: cartOf(id) };
      },
      setPaymentSession: async (id, body) => {
        calls.push(`carts.setPaymentSession(${id},${body.provider_id})`);
        return { cart: cartOf(id) };
      },
      complete: async (id) => {
        calls.push(`carts.complete(${id})`);
        if (completeType !== "order") return { type: completeType, data: cartOf(id) };
        cartOf(id).completed_at = "2026-01-01T00:00:00Z";
        return { type: "order", data: { id: "order_1", display_id: 7, items: cartOf(id).items } };
      },
      lineItems: {
        create: async (id, body) => {
          calls.push(`lineItems.create(${id},${body.variant_id},${body.quantity})`);
          cartOf(id).items.push({ id: `item_${next++}`, variant_id: body.variant_id, quantity: body.quantity });
          return { cart: cartOf(id) };
        },
      },
    },
  };
  return client;
}

describe("cart id in storage", () => {
  it("creates a cart in the region once and reuses it afterwards", async () => {
    const client = fakeClient();
    const storage = memoryStorage();
    const first = await ensureCart(client, storage, REGION);
    const again = await ensureCart(client, storage, REGION);
    expect(again.id).toBe(first.id);
    expect(storage.data[CART_KEY]).toBe(first.id);
    expect(client.calls.filter((c) => c.startsWith("carts.create"))).toEqual(["carts.create(reg_1)"]);
  });

  it("forgets a cart Medusa no longer knows and starts a new one", async () => {
    const client = fakeClient();
    const storage = memoryStorage({ [CART_KEY]: "cart_gone" });
    expect(await currentCart(client, storage)).toBeNull();
    expect(storage.data[CART_KEY]).toBeUndefined();
    const cart = await addToCart(client, storage, REGION, "variant_1", 2);
    expect(cart.items).toEqual([expect.objectContaining({ variant_id: "variant_1", quantity: 2 })]);
    expect(storage.data[CART_KEY]).toBe(cart.id);
  });

  it("forgets a cart that was already completed into an order", async () => {
    const client = fakeClient({ carts: { cart_done: { id: "cart_done", items: [], completed_at: "2026-01-01" } } });
    const storage = memoryStorage({ [CART_KEY]: "cart_done" });
    expect(await currentCart(client, storage)).toBeNull();
    expect(storage.data[CART_KEY]).toBeUndefined();
  });

  it("keeps the stored id when Medusa cannot be reached (the cart may still exist)", async () => {
    const client = fakeClient();
    client.carts.retrieve = async () => {
      const err = new Error("Network Error");
      err.isAxiosError = true;
      throw err;
    };
    const storage = memoryStorage({ [CART_KEY]: "cart_1" });
    await expect(currentCart(client, storage)).rejects.toThrow("Network Error");
    expect(storage.data[CART_KEY]).toBe("cart_1");
  });

  it("refuses to add without a chosen variant and sends nothing", async () => {
    const client = fakeClient();
    const storage = memoryStorage();
    await expect(addToCart(client, storage, REGION, "", 1)).rejects.toThrow("Choose an option first.");
    expect(client.calls).toEqual([]);
    expect(storage.data).toEqual({});
  });
});

describe("checkout", () => {
  const form = {
    email: "ada@example.com",
    first_name: "Ada",
    last_name: "Lovelace",
    address_1: " 1 Main St ",
    city: "Springfield",
    postal_code: "12345",
    country_code: "us",
    phone: "",
  };

  it("accepts a complete address in one of the region's countries", () => {
    expect(validateAddress(form, REGION)).toEqual({});
  });

  it("names every missing field and refuses a country outside the region", () => {
    const errors = validateAddress({ email: "not-an-email", country_code: "de" }, REGION);
    expect(errors).toEqual({
      email: "Enter a valid e-mail address.",
      first_name: "Enter your first name.",
      last_name: "Enter your last name.",
      address_1: "Enter your address.",
      city: "Enter your city.",
      postal_code: "Enter your postal code.",
      country_code: "This store does not ship to that country.",
    });
  });

  it("sends the trimmed address without an empty phone", async () => {
    const client = fakeClient({ carts: { cart_1: { id: "cart_1", items: [] } } });
    const cart = await saveAddress(client, "cart_1", form);
    expect(cart.email).toBe("ada@example.com");
    expect(cart.shipping_address).toEqual({
      first_name: "Ada",
      last_name: "Lovelace",
      address_1: "1 Main St",
      city: "Springfield",
      postal_code: "12345",
      country_code: "us",
    });
  });

  it("selects the manual session before completing, then clears the stored cart", async () => {
    const client = fakeClient({ carts: { cart_1: { id: "cart_1", items: [{ id: "i", quantity: 1 }] } } });
    const storage = memoryStorage({ [CART_KEY]: "cart_1" });
    const order = await placeOrder(client, storage, "cart_1", "manual");
    expect(order.display_id).toBe(7);
    expect(client.calls).toEqual(["carts.setPaymentSession(cart_1,manual)", "carts.complete(cart_1)"]);
    expect(storage.data[CART_KEY]).toBeUndefined();
  });

  it("keeps the cart when completing does not give an order", async () => {
    const client = fakeClient({ carts: { cart_1: { id: "cart_1", items: [] } }, completeType: "cart" });
    const storage = memoryStorage({ [CART_KEY]: "cart_1" });
    await expect(placeOrder(client, storage, "cart_1", "manual")).rejects.toThrow("no order was placed");
    expect(storage.data[CART_KEY]).toBe("cart_1");
  });

  it("moves through the steps as the cart gains an address and a shipping method", () => {
    expect(checkoutStep({ items: [] })).toBe(1);
    const addressed = { email: "a@b.co", shipping_address: { address_1: "1 Main St", country_code: "us" } };
    expect(checkoutStep({ ...addressed, shipping_methods: [] })).toBe(2);
    expect(checkoutStep({ ...addressed, shipping_methods: [{ id: "sm_1" }] })).toBe(3);
    expect(checkoutStep({ email: "a@b.co", shipping_address: { address_1: null } })).toBe(1);
  });
});

describe("prices, images and messages", () => {
  it("formats minor units in the region's currency", () => {
    expect(formatAmount(1950, "usd")).toBe("$19.50");
    expect(formatAmount(1000, "jpy")).toBe("¥1,000");
    expect(formatAmount(null, "usd")).toBe("");
  });

  it("prefers Medusa's calculated price, else the region's, else the currency's", () => {
    expect(variantAmount({ calculated_price: 1200, prices: [{ currency_code: "usd", amount: 9 }] }, REGION)).toBe(1200);
    const prices = [
      { currency_code: "eur", amount: 1800 },
      { currency_code: "usd", amount: 2000 },
      { currency_code: "usd", amount: 1900, region_id: "reg_1" },
    ];
    expect(variantAmount({ prices }, REGION)).toBe(1900);
    expect(variantAmount({ prices: prices.slice(0, 2) }, REGION)).toBe(2000);
    expect(variantAmount({ prices: [{ currency_code: "eur", amount: 1 }] }, REGION)).toBeNull();
    const product = { variants: [{ calculated_price: 2500 }, { calculated_price: 2000 }] };
    expect(productPrice(product, REGION)).toEqual({ amount: 2000, varies: true });
  });

  it("shows only same-origin images", () => {
    const origin = "http://shop-1.localhost:8080";
    expect(sameOriginImage("/uploads/a.png", origin)).toBe("/uploads/a.png");
    expect(sameOriginImage(`${origin}/uploads/b.png`, origin)).toBe("/uploads/b.png");
    expect(sameOriginImage("https://cdn.example.com/c.png", origin)).toBeNull();
    expect(sameOriginImage("//cdn.example.com/c.png", origin)).toBeNull();
    expect(sameOriginImage(null, origin)).toBeNull();
  });

  it("puts API failures in plain words", () => {
    expect(errorMessage(httpError(400, "Variant does not have the required inventory"))).toBe(
      "Variant does not have the required inventory",
    );
    expect(errorMessage(httpError(502))).toBe("The store had a problem (HTTP 502). Please try again in a moment.");
    expect(errorMessage(httpError(404))).toBe("This item no longer exists.");
    const offline = new Error("Network Error");
    offline.isAxiosError = true;
    expect(errorMessage(offline)).toBe("The store could not be reached. Check your connection and try again.");
  });
});
