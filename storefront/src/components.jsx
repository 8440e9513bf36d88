// Small shared pieces: the error boundary (a crash shows a message, not a blank page), alerts, prices, thumbnails.
import { Component } from "react";
import { formatAmount, sameOriginImage } from "./shop.js";

export class ErrorBoundary extends Component {
  constructor(props) {
    super(props);
    this.state = { error: null };
  }

  static getDerivedStateFromError(error) {
    return { error };
  }

  render() {
    if (!this.state.error) return this.props.children;
    return (
      <main className="page">
        <h1>Something went wrong</h1>
        <p role="alert" data-testid="error">
          This page could not be shown ({this.state.error.message || "unexpected error"}).
        </p>
        <p>
          <a href="/">Back to the shop</a>
        </p>
      </main>
    );
  }
}

export function ErrorMessage({ message }) {
  if (!message) return null;
  return (
    <p className="alert" role="alert" data-testid="error">
      {message}
    </p>
  );
}

export function Price({ amount, currency, from = false, testId }) {
  if (amount === null || amount === undefined) return <span className="price muted">Price not available</span>;
  return (
    <span className="price" data-testid={testId}>
      {from ? "From " : ""}
      {formatAmount(amount, currency)}
    </span>
  );
}

export function Thumbnail({ product, size = "card" }) {
  const src = sameOriginImage(product.thumbnail, window.location.origin);
  if (src) return <img className={`thumb thumb-${size}`} src={src} alt="" loading="lazy" />;
  const initial = (product.title || "?").trim().charAt(0).toUpperCase();
  return (
    <div className={`thumb thumb-${size} placeholder`} aria-hidden="true">
      <span>{initial}</span>
    </div>
  );
}

export function Loading({ what }) {
  return (
    <p className="muted" role="status">
      Loading {what}…
    </p>
  );
}
