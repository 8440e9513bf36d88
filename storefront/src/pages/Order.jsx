// The confirmation after checkout: the order number (Medusa's display_id) and what was ordered.
import { useEffect, useState } from "react";
import { usePageTitle, useShop } from "../App.jsx";
import { Link } from "../router.jsx";
import { ErrorMessage, Loading, Price } from "../components.jsx";
import { errorMessage } from "../shop.js";

function stashedOrder(id) {
  try {
    const raw = window.sessionStorage.getItem(`storeplane.order.${id}`);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

export function OrderPage({ id }) {
  const { client } = useShop();
  const [order, setOrder] = useState(() => stashedOrder(id));
  const [error, setError] = useState(null);
  usePageTitle(order ? `Order #${order.display_id}` : "Order");

  useEffect(() => {
    if (order && order.id === id) return undefined;
    let live = true;
    client.orders
      .retrieve(id)
      .then(({ order: found }) => live && setOrder(found))
      .catch((err) => live && setError(errorMessage(err)));
    return () => {
      live = false;
    };
  }, [client, id, order]);

  if (error) return <ErrorMessage message={error} />;
  if (!order) return <Loading what="your order" />;
  const currency = order.currency_code || order.region?.currency_code;
  const address = order.shipping_address || {};

  return (
    <section className="confirmation" data-testid="order-confirmation" aria-labelledby="order-title">
      <h1 id="order-title">Thank you for your order</h1>
      <p className="order-number">
        Order number <strong data-testid="order-number">{order.display_id}</strong>
      </p>
      <p>
        Placed for <strong>{order.email}</strong>. You pay on delivery.
      </p>
      <h2>Items</h2>
      <ul className="lines">
        {(order.items || []).map((item) => (
          <li key={item.id} className="line" data-testid="order-item">
            <span>
              {item.quantity} × {item.title}
              {item.description && item.description !== "Default Variant" ? ` (${item.description})` : ""}
            </span>
            <Price amount={item.subtotal ?? item.unit_price * item.quantity} currency={currency} />
          </li>
        ))}
      </ul>
      <p className="subtotal">
        Total: <Price amount={order.total} currency={currency} testId="order-total" />
      </p>
      {address.address_1 && (
        <p className="muted">
          Shipping to {address.first_name} {address.last_name}, {address.address_1}, {address.postal_code}{" "}
          {address.city}, {(address.country_code || "").toUpperCase()}
        </p>
      )}
      <p>
        <Link to="/">Continue shopping</Link>
      </p>
    </section>
  );
}
