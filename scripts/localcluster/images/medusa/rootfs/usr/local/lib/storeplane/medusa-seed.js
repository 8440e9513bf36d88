// The engine setup's seed of a new Medusa store: the original platform's shop (its region, shipping options and 8
// products) plus the storefront's publishable API key, created with Medusa's own services inside the running server
// (POST /storeplane/seed, /app/dist/api/index.js). Exactly once: everything is looked up by its name, handle or id
// first and only what is missing is created, in one transaction under an advisory lock, so a retry, a re-run or two
// runs at the same time never create anything twice.

const REGION = {
  name: "North America",
  currency_code: "usd",
  tax_rate: 0,
  payment_providers: ["manual"],
  fulfillment_providers: ["manual"],
  countries: ["us", "ca", "gb"],
};

// Flat rates in cents, fulfilled by the manual provider.
const SHIPPING_OPTIONS = [
  { name: "Standard Shipping", amount: 500 },
  { name: "Express Shipping", amount: 1500 },
];

// The original's 8 products. Prices in US cents; every variant tracks its stock. No thumbnails: the store loads
// nothing from outside (the original's were Unsplash URLs).
const sized = (sku, price, stock, values) => values.map((value) => ({ value, sku: `${sku}-${value}`, price, stock }));
const PRODUCTS = [
  {
    title: "Classic Cotton T-Shirt",
    handle: "classic-cotton-t-shirt",
    description: "A soft, breathable crew-neck t-shirt in 100% cotton for every day.",
    option: "Size",
    variants: sized("TSHIRT", 2499, 50, ["S", "M", "L", "XL"]),
  },
  {
    title: "Slim Fit Denim Jeans",
    handle: "slim-fit-denim-jeans",
    description: "Slim fit jeans in stretch denim with a classic five-pocket design.",
    option: "Waist",
    variants: sized("JEANS", 5999, 30, ["30", "32", "34", "36"]),
  },
  {
    title: "Leather Crossbody Bag",
    handle: "leather-crossbody-bag",
    description: "A compact genuine-leather crossbody bag with an adjustable strap.",
    option: "Color",
    variants: sized("BAG", 8999, 20, ["Black", "Brown"]),
  },
  {
    title: "Wireless Bluetooth Headphones",
    handle: "wireless-bluetooth-headphones",
    description: "Over-ear Bluetooth headphones with active noise cancelling and a 30-hour battery.",
    option: "Color",
    variants: sized("HEADPHONES", 12999, 25, ["Black", "White"]),
  },
  {
    title: "Canvas Sneakers",
    handle: "canvas-sneakers",
    description: "Low-top canvas sneakers with a cushioned insole and a rubber sole.",
    option: "Size",
    variants: sized("SNEAKERS", 6499, 40, ["40", "41", "42", "43", "44"]),
  },
  {
    title: "Stainless Steel Watch",
    handle: "stainless-steel-watch",
    description: "A minimalist analog watch with a stainless steel case and mesh band, water resistant to 50 m.",
    option: "Finish",
    variants: sized("WATCH", 14999, 15, ["Silver", "Black"]),
  },
  {
    title: "Organic Cotton Hoodie",
    handle: "organic-cotton-hoodie",
    description: "A heavyweight pullover hoodie in organic cotton fleece with a kangaroo pocket.",
    option: "Size",
    variants: sized("HOODIE", 5499, 35, ["S", "M", "L", "XL"]),
  },
  {
    title: "Portable Power Bank",
    handle: "portable-power-bank",
    description: "A slim 10,000 mAh power bank with USB-C fast charging for phones and tablets.",
    option: "Capacity",
    variants: sized("POWERBANK", 3999, 60, ["10000 mAh"]),
  },
];

const PUBLISHABLE_KEY_TITLE = "Storefront";
// Medusa's ids are free text; the platform's key is pk_ + 64 lowercase hex (provisioning/values.py).
const PUBLISHABLE_KEY = /^pk_[0-9a-f]{64}$/;
// One seed at a time per database (pg_advisory_xact_lock's key; any constant will do).
const SEED_LOCK = 0x5eed;

class SeedInputError extends Error {
  constructor(message) {
    super(message);
    this.type = "invalid_data";
  }
}

function notFound(error) {
  return error && error.type === "not_found";
}

async function seedStore(services, storeName) {
  const store = await services.store.retrieve({ relations: ["currencies"] });
  const update = {};
  if (store.name !== storeName) update.name = storeName;
  const currencies = store.currencies.map((c) => c.code);
  if (!currencies.includes("usd")) update.currencies = [...currencies, "usd"];
  if (store.default_currency_code !== "usd") update.default_currency_code = "usd";
  if (Object.keys(update).length) await services.store.update(update);
  return { store, report: { name: storeName, currency: "usd", updated: Object.keys(update).sort() } };
}

async function seedRegion(services) {
  const [existing] = await services.region.list({ name: REGION.name }, { take: 1 });
  if (existing) return { region: existing, report: { id: existing.id, name: existing.name, created: false } };
  const region = await services.region.create({ ...REGION });
  return { region, report: { id: region.id, name: region.name, created: true } };
}

async function seedShippingOptions(services, region, profile) {
  const existing = await services.shippingOption.list({ region_id: region.id }, {});
  const created = [];
  for (const option of SHIPPING_OPTIONS) {
    if (existing.some((o) => o.name === option.name)) continue;
    await services.shippingOption.create({
      name: option.name,
      region_id: region.id,
      profile_id: profile.id,
      provider_id: "manual",
      price_type: "flat_rate",
      amount: option.amount,
      is_return: false,
      admin_only: false,
      data: {},
    });
    created.push(option.name);
  }
  return { created, existing: SHIPPING_OPTIONS.length - created.length };
}

async function seedProducts(services, salesChannelId, profile) {
  const created = [];
  const addedToChannel = [];
  for (const spec of PRODUCTS) {
    const [existing] = await services.product.list({ handle: spec.handle }, { relations: ["sales_channels"], take: 1 });
    if (existing) {
      // A product the seed made before but that left the default channel (or a half-done earlier run) goes back.
      if (!existing.sales_channels.some((c) => c.id === salesChannelId)) {
        await services.salesChannel.addProducts(salesChannelId, [existing.id]);
        addedToChannel.push(spec.handle);
      }
      continue;
    }
    const product = await services.product.create({
      title: spec.title,
      handle: spec.handle,
      description: spec.description,
      status: "published",
      discountable: true,
      is_giftcard: false,
      thumbnail: null,
      options: [{ title: spec.option }],
      profile_id: profile.id,
      sales_channels: [{ id: salesChannelId }],
    });
    const optionId = product.options.find((o) => o.title === spec.option).id;
    await services.variant.create(
      product.id,
      spec.variants.map((v, rank) => ({
        title: v.value,
        sku: v.sku,
        variant_rank: rank,
        inventory_quantity: v.stock,
        manage_inventory: true,
        allow_backorder: false,
        prices: [{ currency_code: "usd", amount: v.price }],
        options: [{ option_id: optionId, value: v.value }],
      })),
    );
    created.push(spec.handle);
  }
  return { created, existing: PRODUCTS.length - created.length, addedToChannel };
}

async function seedPublishableKey(services, id, salesChannelId, userId) {
  let key = await services.publishableKey.retrieve(id).catch((error) => {
    if (notFound(error)) return null;
    throw error;
  });
  const created = !key;
  // Medusa keeps an id that is already set (generateEntityId), so the key is the platform's value.
  if (!key) key = await services.publishableKey.create({ id, title: PUBLISHABLE_KEY_TITLE }, { loggedInUserId: userId || "" });
  const channels = await services.publishableKey.listSalesChannels(key.id);
  const link = !channels.some((c) => c.id === salesChannelId);
  if (link) await services.publishableKey.addSalesChannels(key.id, [salesChannelId]);
  return { created, addedToSalesChannel: link, revoked: Boolean(key.revoked_at) };
}

async function seedShop(scope, { storeName, publishableKey, userId }) {
  if (typeof storeName !== "string" || !storeName.trim()) throw new SeedInputError("store_name is required");
  if (typeof publishableKey !== "string" || !PUBLISHABLE_KEY.test(publishableKey)) {
    throw new SeedInputError("publishable_key must be pk_ followed by 64 lowercase hex digits");
  }
  const manager = scope.resolve("manager");
  const started = Date.now();
  const result = await manager.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock($1)", [SEED_LOCK]);
    const service = (name) => scope.resolve(name).withTransaction(tx);
    const services = {
      store: service("storeService"),
      region: service("regionService"),
      shippingOption: service("shippingOptionService"),
      shippingProfile: service("shippingProfileService"),
      product: service("productService"),
      variant: service("productVariantService"),
      salesChannel: service("salesChannelService"),
      publishableKey: service("publishableApiKeyService"),
    };
    const { store, report: storeReport } = await seedStore(services, storeName.trim());
    const salesChannelId = store.default_sales_channel_id;
    if (!salesChannelId) throw new Error("The store has no default sales channel yet.");
    const profile = await services.shippingProfile.retrieveDefault();
    if (!profile) throw new Error("The store has no default shipping profile yet.");
    const { region, report: regionReport } = await seedRegion(services);
    return {
      store: storeReport,
      region: regionReport,
      shippingOptions: await seedShippingOptions(services, region, profile),
      products: await seedProducts(services, salesChannelId, profile),
      publishableKey: await seedPublishableKey(services, publishableKey, salesChannelId, userId),
      salesChannel: salesChannelId,
    };
  });
  return { ok: true, ...result, seconds: (Date.now() - started) / 1000 };
}

module.exports = { seedShop, REGION, SHIPPING_OPTIONS, PRODUCTS };
