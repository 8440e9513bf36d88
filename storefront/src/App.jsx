// The shop: header (store name, cart link), the pages, and the shared state (region, cart) they work on.
import { createContext, useCallback, useContext, useEffect, useMemo, useState } from "react";
import { Link, Router, match, useRouter } from "./router.jsx";
import { ErrorMessage, Loading } from "./components.jsx";
import { currentCart, errorMessage, itemCount, loadRegion } from "./shop.js";
import { Catalog } from "./pages/Catalog.jsx";
import { ProductPage } from "./pages/Product.jsx";
import { CartPage } from "./pages/Cart.jsx";
import { Checkout } from "./pages/Checkout.jsx";
import { OrderPage } from "./pages/Order.jsx";

const ShopContext = createContext(null);

export function useShop() {
  return useContext(ShopContext);
}

export function usePageTitle(title) {
  const { config } = useShop();
  useEffect(() => {
    document.title = title ? `${title} · ${config.storeName}` : config.storeName;
  }, [title, config.storeName]);
}

export function App({ config, client }) {
  const [region, setRegion] = useState(null);
  const [cart, setCart] = useState(null);
  const [error, setError] = useState(null);

  const refreshCart = useCallback(async () => {
    const fresh = await currentCart(client, window.localStorage);
    setCart(fresh);
    return fresh;
  }, [client]);

  useEffect(() => {
    let live = true;
    Promise.all([loadRegion(client), currentCart(client, window.localStorage)])
      .then(([r, c]) => {
        if (!live) return;
        setRegion(r);
        setCart(c);
      })
      .catch((err) => live && setError(errorMessage(err)));
    return () => {
      live = false;
    };
  }, [client]);

  const shop = useMemo(
    () => ({ client, config, region, cart, setCart, refreshCart }),
    [client, config, region, cart, refreshCart],
  );

  return (
    <ShopContext.Provider value={shop}>
      <Router>
        <Header />
        <main className="page" id="main">
          {error ? <ErrorMessage message={error} /> : region ? <Routes /> : <Loading what="the store" />}
        </main>
        <footer className="footer">
          <p className="muted">{config.storeName} · payment on delivery</p>
        </footer>
      </Router>
    </ShopContext.Provider>
  );
}

function Header() {
  const { config, cart } = useShop();
  const count = itemCount(cart);
  return (
    <header className="header">
      <Link to="/" className="brand" data-testid="store-name">
        {config.storeName}
      </Link>
      <nav aria-label="Main">
        <Link to="/">Products</Link>
        <Link to="/cart" data-testid="cart-link" aria-label={`Cart, ${count} item${count === 1 ? "" : "s"}`}>
          Cart <span className="badge" data-testid="cart-count">{count}</span>
        </Link>
      </nav>
    </header>
  );
}

function Routes() {
  const { path } = useRouter();
  if (path === "/" || path === "") return <Catalog />;
  if (path === "/cart" || path === "/cart/") return <CartPage />;
  if (path === "/checkout" || path === "/checkout/") return <Checkout />;
  const product = match("/products/:handle", path);
  if (product) return <ProductPage handle={product.handle} />;
  const order = match("/order/:id", path);
  if (order) return <OrderPage id={order.id} />;
  return <NotFound />;
}

function NotFound() {
  usePageTitle("Page not found");
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        There is nothing here. <Link to="/">See all products</Link>.
      </p>
    </section>
  );
}
