// Checkout in three steps on the cart: (1) e-mail and shipping address, (2) a shipping option of the cart,
// (3) the manual payment, then the order. A finished step shows what was chosen and can be changed.
import { useEffect, useState } from "react";
import { useShop, usePageTitle } from "../App.jsx";
import { Link, useRouter } from "../router.jsx";
import { ErrorMessage, Loading, Price } from "../components.jsx";
import {
  ADDRESS_FIELDS,
  checkoutStep,
  chooseShipping,
  errorMessage,
  formatAmount,
  placeOrder,
  saveAddress,
  shippingOptions,
  startPayment,
  validateAddress,
} from "../shop.js";

const PROVIDER_LABELS = { manual: "Manual payment (pay on delivery)" };

export function Checkout() {
  const { cart, refreshCart } = useShop();
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState(null);
  const [step, setStep] = useState(null);
  usePageTitle("Checkout");

  useEffect(() => {
    refreshCart()
      .then((fresh) => setStep(checkoutStep(fresh)))
      .catch((err) => setError(errorMessage(err)))
      .finally(() => setLoaded(true));
  }, [refreshCart]);

  if (!loaded) return <Loading what="checkout" />;
  if (error) return <ErrorMessage message={error} />;
  if (!cart || !cart.items?.length) {
    return (
      <section>
        <h1>Checkout</h1>
        <p>
          Your cart is empty. <Link to="/">See all products</Link>.
        </p>
      </section>
    );
  }

  return (
    <section className="checkout" aria-labelledby="checkout-title">
      <h1 id="checkout-title">Checkout</h1>
      <ol className="steps">
        <AddressStep step={step} setStep={setStep} />
        <ShippingStep step={step} setStep={setStep} />
        <PaymentStep step={step} />
      </ol>
      <Summary cart={cart} />
    </section>
  );
}

function StepHeading({ number, title, done, onChange }) {
  return (
    <h2 className="step-title">
      <span className="step-number">{number}.</span> {title}
      {done && onChange && (
        <button type="button" className="link-button" onClick={onChange}>
          Change
        </button>
      )}
    </h2>
  );
}

function AddressStep({ step, setStep }) {
  const { client, cart, setCart, region } = useShop();
  const countries = region.countries || [];
  const saved = cart.shipping_address || {};
  const [form, setForm] = useState(() => ({
    email: cart.email || "",
    ...Object.fromEntries(ADDRESS_FIELDS.map((f) => [f.name, saved[f.name] || ""])),
    country_code: saved.country_code || (countries.length === 1 ? countries[0].iso_2 : ""),
    phone: saved.phone || "",
  }));
  const [errors, setErrors] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const active = step === 1;

  const set = (name) => (event) => setForm({ ...form, [name]: event.target.value });

  const submit = async (event) => {
    event.preventDefault();
    const found = validateAddress(form, region);
    setErrors(found);
    if (Object.keys(found).length) return;
    setBusy(true);
    setError(null);
    try {
      setCart(await saveAddress(client, cart.id, form));
      setStep(2);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const field = (name, label, props = {}) => (
    <p className="field" key={name}>
      <label htmlFor={`f-${name}`}>{label}</label>
      <input
        id={`f-${name}`}
        name={name}
        value={form[name]}
        onChange={set(name)}
        aria-invalid={errors[name] ? "true" : undefined}
        aria-describedby={errors[name] ? `e-${name}` : undefined}
        {...props}
      />
      {errors[name] && (
        <span className="field-error" id={`e-${name}`}>
          {errors[name]}
        </span>
      )}
    </p>
  );

  return (
    <li className={`step ${active ? "active" : ""}`} data-testid="step-address">
      <StepHeading number={1} title="Contact and shipping address" done={!active && step > 1} onChange={() => setStep(1)} />
      {active ? (
        <form onSubmit={submit} noValidate>
          {field("email", "Email", { type: "email", autoComplete: "email", required: true })}
          {ADDRESS_FIELDS.map((f) => field(f.name, f.label, { autoComplete: f.autoComplete, required: true }))}
          <p className="field">
            <label htmlFor="f-country_code">Country</label>
            <select
              id="f-country_code"
              name="country_code"
              value={form.country_code}
              onChange={set("country_code")}
              aria-invalid={errors.country_code ? "true" : undefined}
              aria-describedby={errors.country_code ? "e-country_code" : undefined}
              required
            >
              <option value="">Choose a country</option>
              {countries.map((c) => (
                <option key={c.iso_2} value={c.iso_2}>
                  {c.display_name || c.name || c.iso_2.toUpperCase()}
                </option>
              ))}
            </select>
            {errors.country_code && (
              <span className="field-error" id="e-country_code">
                {errors.country_code}
              </span>
            )}
          </p>
          {field("phone", "Phone (optional)", { type: "tel", autoComplete: "tel" })}
          <ErrorMessage message={error} />
          <button type="submit" data-testid="address-continue" disabled={busy}>
            {busy ? "Saving…" : "Continue to shipping"}
          </button>
        </form>
      ) : (
        step > 1 && (
          <p className="muted" data-testid="address-summary">
            {cart.email} · {saved.first_name} {saved.last_name}, {saved.address_1}, {saved.postal_code} {saved.city},{" "}
            {(saved.country_code || "").toUpperCase()}
          </p>
        )
      )}
    </li>
  );
}

function ShippingStep({ step, setStep }) {
  const { client, cart, setCart } = useShop();
  const currency = cart.region?.currency_code;
  const [options, setOptions] = useState(null);
  const [choice, setChoice] = useState(cart.shipping_methods?.[0]?.shipping_option_id || "");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const active = step === 2;

  useEffect(() => {
    if (!active) return undefined;
    let live = true;
    setOptions(null);
    setError(null);
    shippingOptions(client, cart.id)
      .then((list) => {
        if (!live) return;
        setOptions(list);
        if (list.length === 1) setChoice(list[0].id);
      })
      .catch((err) => live && setError(errorMessage(err)));
    return () => {
      live = false;
    };
  }, [active, client, cart.id]);

  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setCart(await chooseShipping(client, cart.id, choice));
      setStep(3);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const method = cart.shipping_methods?.[0];
  return (
    <li className={`step ${active ? "active" : ""}`} data-testid="step-shipping">
      <StepHeading number={2} title="Shipping" done={step > 2} onChange={() => setStep(2)} />
      {active && (
        <form onSubmit={submit}>
          {!options && !error && <Loading what="shipping options" />}
          {options && !options.length && (
            <p className="alert" role="alert">
              No shipping option covers this address. Check the country, or contact the store.
            </p>
          )}
          {options && options.length > 0 && (
            <fieldset>
              <legend>Choose how your order is shipped</legend>
              {options.map((option) => (
                <p className="choice" key={option.id}>
                  <input
                    type="radio"
                    id={`ship-${option.id}`}
                    name="shipping_option"
                    value={option.id}
                    checked={choice === option.id}
                    onChange={() => setChoice(option.id)}
                    data-testid="shipping-option"
                  />
                  <label htmlFor={`ship-${option.id}`}>
                    {option.name} · {formatAmount(option.amount ?? 0, currency)}
                  </label>
                </p>
              ))}
            </fieldset>
          )}
          <ErrorMessage message={error} />
          <button type="submit" data-testid="shipping-continue" disabled={busy || !choice}>
            {busy ? "Saving…" : "Continue to payment"}
          </button>
        </form>
      )}
      {!active && step > 2 && method && (
        <p className="muted" data-testid="shipping-summary">
          {method.shipping_option?.name || "Shipping"} · {formatAmount(method.price ?? method.total ?? 0, currency)}
        </p>
      )}
    </li>
  );
}

function PaymentStep({ step }) {
  const { client, cart, setCart } = useShop();
  const { navigate } = useRouter();
  const [sessions, setSessions] = useState(null);
  const [choice, setChoice] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const active = step === 3;

  useEffect(() => {
    if (!active) return undefined;
    let live = true;
    setSessions(null);
    setError(null);
    startPayment(client, cart.id)
      .then((updated) => {
        if (!live) return;
        setCart(updated);
        const list = updated.payment_sessions || [];
        setSessions(list);
        const preferred = list.find((s) => s.provider_id === "manual") || list[0];
        setChoice(preferred ? preferred.provider_id : "");
      })
      .catch((err) => live && setError(errorMessage(err)));
    return () => {
      live = false;
    };
    // The sessions are made once per visit of the step; the cart object changing under it must not redo them.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [active, client, cart.id]);

  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const order = await placeOrder(client, window.localStorage, cart.id, choice);
      try {
        window.sessionStorage.setItem(`storeplane.order.${order.id}`, JSON.stringify(order));
      } catch {
        // Without session storage the confirmation page loads the order from Medusa instead.
      }
      setCart(null);
      navigate(`/order/${encodeURIComponent(order.id)}`);
    } catch (err) {
      setError(errorMessage(err));
      setBusy(false);
    }
  };

  return (
    <li className={`step ${active ? "active" : ""}`} data-testid="step-payment">
      <StepHeading number={3} title="Payment" done={false} />
      {active && (
        <form onSubmit={submit}>
          {!sessions && !error && <Loading what="payment methods" />}
          {sessions && !sessions.length && (
            <p className="alert" role="alert">
              This store offers no payment method for your cart yet. Please contact the store.
            </p>
          )}
          {sessions && sessions.length > 0 && (
            <fieldset>
              <legend>Choose how you pay</legend>
              {sessions.map((session) => (
                <p className="choice" key={session.provider_id}>
                  <input
                    type="radio"
                    id={`pay-${session.provider_id}`}
                    name="payment_provider"
                    value={session.provider_id}
                    checked={choice === session.provider_id}
                    onChange={() => setChoice(session.provider_id)}
                    data-testid={`payment-${session.provider_id}`}
                  />
                  <label htmlFor={`pay-${session.provider_id}`}>
                    {PROVIDER_LABELS[session.provider_id] || session.provider_id}
                  </label>
                </p>
              ))}
            </fieldset>
          )}
          <ErrorMessage message={error} />
          <button type="submit" data-testid="place-order" disabled={busy || !choice}>
            {busy ? "Placing your order…" : "Place order"}
          </button>
        </form>
      )}
    </li>
  );
}

function Summary({ cart }) {
  const currency = cart.region?.currency_code;
  return (
    <aside className="summary" aria-labelledby="summary-title">
      <h2 id="summary-title">Order summary</h2>
      <ul>
        {cart.items.map((item) => (
          <li key={item.id}>
            {item.quantity} × {item.title}
            {item.description && item.description !== "Default Variant" ? ` (${item.description})` : ""}
            {" · "}
            <Price amount={item.subtotal ?? item.unit_price * item.quantity} currency={currency} />
          </li>
        ))}
      </ul>
      <dl>
        <dt>Subtotal</dt>
        <dd>
          <Price amount={cart.subtotal} currency={currency} />
        </dd>
        <dt>Shipping</dt>
        <dd>{cart.shipping_methods?.length ? <Price amount={cart.shipping_total} currency={currency} /> : "—"}</dd>
        <dt>Total</dt>
        <dd>
          <Price amount={cart.total} currency={currency} testId="checkout-total" />
        </dd>
      </dl>
    </aside>
  );
}
