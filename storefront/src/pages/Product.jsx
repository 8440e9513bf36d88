// One product: title, description, a variant choice, its price and "Add to cart".
import { useEffect, useState } from "react";
import { useShop, usePageTitle } from "../App.jsx";
import { Link } from "../router.jsx";
import { ErrorMessage, Loading, Price, Thumbnail } from "../components.jsx";
import { addToCart, errorMessage, variantAmount } from "../shop.js";

function inStock(variant) {
  if (!variant) return false;
  if (!variant.manage_inventory || variant.allow_backorder) return true;
  return (variant.inventory_quantity ?? 0) > 0;
}

export function ProductPage({ handle }) {
  const { client, region, setCart } = useShop();
  const [product, setProduct] = useState(undefined);
  const [variantId, setVariantId] = useState("");
  const [loadError, setLoadError] = useState(null);
  const [error, setError] = useState(null);
  const [status, setStatus] = useState("");
  const [busy, setBusy] = useState(false);
  usePageTitle(product ? product.title : "Product");

  useEffect(() => {
    let live = true;
    setProduct(undefined);
    setLoadError(null);
    client.products
      .list({ handle, region_id: region.id, limit: 1 })
      .then(({ products }) => {
        if (!live) return;
        const found = products && products[0];
        setProduct(found || null);
        const first = found && (found.variants.find(inStock) || found.variants[0]);
        setVariantId(first ? first.id : "");
      })
      .catch((err) => live && setLoadError(errorMessage(err)));
    return () => {
      live = false;
    };
  }, [client, region, handle]);

  if (loadError) return <ErrorMessage message={loadError} />;
  if (product === undefined) return <Loading what="the product" />;
  if (product === null) {
    return (
      <section>
        <h1>Product not found</h1>
        <p>
          This product is not for sale here. <Link to="/">See all products</Link>.
        </p>
      </section>
    );
  }

  const variant = product.variants.find((v) => v.id === variantId);
  const available = inStock(variant);

  const onAdd = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setStatus("");
    try {
      const cart = await addToCart(client, window.localStorage, region, variantId, 1);
      setCart(cart);
      setStatus(`Added ${product.title}${variant && product.variants.length > 1 ? ` (${variant.title})` : ""} to the cart.`);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <article className="product" aria-labelledby="product-title">
      <Thumbnail product={product} size="large" />
      <div className="product-info">
        <p>
          <Link to="/">← All products</Link>
        </p>
        <h1 id="product-title" data-testid="product-title">
          {product.title}
        </h1>
        {product.description && <p className="description">{product.description}</p>}
        <form onSubmit={onAdd}>
          {product.variants.length > 1 ? (
            <p className="field">
              <label htmlFor="variant">{product.options?.length === 1 ? product.options[0].title : "Option"}</label>
              <select
                id="variant"
                data-testid="variant-select"
                value={variantId}
                onChange={(e) => setVariantId(e.target.value)}
              >
                {product.variants.map((v) => (
                  <option key={v.id} value={v.id}>
                    {v.title}
                    {inStock(v) ? "" : " (out of stock)"}
                  </option>
                ))}
              </select>
            </p>
          ) : (
            variant && variant.title !== "Default Variant" && <p className="muted">{variant.title}</p>
          )}
          <p className="price-line">
            <Price amount={variantAmount(variant, region)} currency={region.currency_code} testId="variant-price" />
            {!available && <span className="muted"> · out of stock</span>}
          </p>
          <button type="submit" data-testid="add-to-cart" disabled={busy || !available || !variantId}>
            {busy ? "Adding…" : "Add to cart"}
          </button>
        </form>
        <p role="status" className="status" data-testid="cart-status">
          {status}
          {status && (
            <>
              {" "}
              <Link to="/cart">View cart</Link>
            </>
          )}
        </p>
        <ErrorMessage message={error} />
      </div>
    </article>
  );
}
