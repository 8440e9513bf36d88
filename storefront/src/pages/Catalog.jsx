// Every product of the store with its price in the region's currency.
import { useEffect, useState } from "react";
import { useShop, usePageTitle } from "../App.jsx";
import { Link } from "../router.jsx";
import { ErrorMessage, Loading, Price, Thumbnail } from "../components.jsx";
import { errorMessage, productPrice } from "../shop.js";

export function Catalog() {
  const { client, region, config } = useShop();
  const [products, setProducts] = useState(null);
  const [error, setError] = useState(null);
  usePageTitle(null);

  useEffect(() => {
    let live = true;
    client.products
      .list({ region_id: region.id, limit: 100 })
      .then(({ products: list }) => live && setProducts(list))
      .catch((err) => live && setError(errorMessage(err)));
    return () => {
      live = false;
    };
  }, [client, region]);

  return (
    <section aria-labelledby="catalog-title">
      <h1 id="catalog-title">{config.storeName}</h1>
      <ErrorMessage message={error} />
      {!products && !error && <Loading what="products" />}
      {products && !products.length && <p>No products are for sale yet.</p>}
      {products && products.length > 0 && (
        <ul className="grid" data-testid="product-list">
          {products.map((product) => {
            const { amount, varies } = productPrice(product, region);
            return (
              <li key={product.id} className="card" data-testid="product-card">
                <Link to={`/products/${encodeURIComponent(product.handle)}`} className="card-link">
                  <Thumbnail product={product} />
                  <h2 className="card-title" data-testid="product-title">
                    {product.title}
                  </h2>
                </Link>
                <Price amount={amount} currency={region.currency_code} from={varies} testId="product-price" />
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
