// The cart: its lines with quantities, remove, and the subtotal; "Checkout" leads to the three steps.
import { useEffect, useState } from "react";
import { useShop, usePageTitle } from "../App.jsx";
import { Link } from "../router.jsx";
import { ErrorMessage, Loading, Price, Thumbnail } from "../components.jsx";
import { errorMessage, removeLine, setQuantity } from "../shop.js";

export function CartPage() {
  const { client, cart, setCart, refreshCart, region } = useShop();
  const [loaded, setLoaded] = useState(false);
  const [busyLine, setBusyLine] = useState(null);
  const [error, setError] = useState(null);
  usePageTitle("Cart");

  useEffect(() => {
    refreshCart()
      .catch((err) => setError(errorMessage(err)))
      .finally(() => setLoaded(true));
  }, [refreshCart]);

  const change = async (line, action) => {
    setBusyLine(line.id);
    setError(null);
    try {
      const updated =
        action === "remove"
          ? await removeLine(client, cart.id, line.id)
          : await setQuantity(client, cart.id, line.id, line.quantity + action);
      setCart(updated);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusyLine(null);
    }
  };

  if (!loaded && !cart) return <Loading what="your cart" />;
  const items = cart?.items || [];
  const currency = cart?.region?.currency_code || region.currency_code;

  return (
    <section aria-labelledby="cart-title">
      <h1 id="cart-title">Your cart</h1>
      <ErrorMessage message={error} />
      {!items.length ? (
        <p data-testid="cart-empty">
          Your cart is empty. <Link to="/">See all products</Link>.
        </p>
      ) : (
        <>
          <ul className="lines">
            {items.map((line) => (
              <li key={line.id} className="line" data-testid="cart-line">
                <Thumbnail product={line} size="small" />
                <div className="line-info">
                  <p className="line-title" data-testid="cart-line-title">
                    {line.title}
                  </p>
                  {line.description && line.description !== "Default Variant" && (
                    <p className="muted">{line.description}</p>
                  )}
                  <p className="muted">
                    <Price amount={line.unit_price} currency={currency} /> each
                  </p>
                </div>
                <div className="qty" role="group" aria-label={`Quantity of ${line.title}`}>
                  <button
                    type="button"
                    aria-label={`One less ${line.title}`}
                    onClick={() => change(line, -1)}
                    disabled={busyLine === line.id}
                  >
                    −
                  </button>
                  <span data-testid="cart-line-quantity" aria-live="polite">
                    {line.quantity}
                  </span>
                  <button
                    type="button"
                    aria-label={`One more ${line.title}`}
                    onClick={() => change(line, 1)}
                    disabled={busyLine === line.id}
                  >
                    +
                  </button>
                </div>
                <Price amount={line.subtotal ?? line.unit_price * line.quantity} currency={currency} />
                <button
                  type="button"
                  className="link-button"
                  data-testid="remove-line"
                  onClick={() => change(line, "remove")}
                  disabled={busyLine === line.id}
                >
                  Remove
                </button>
              </li>
            ))}
          </ul>
          <p className="subtotal">
            Subtotal: <Price amount={cart.subtotal} currency={currency} testId="cart-subtotal" />
          </p>
          <p>
            <Link to="/checkout" className="button" data-testid="checkout">
              Checkout
            </Link>
          </p>
        </>
      )}
    </section>
  );
}
