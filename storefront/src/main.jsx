// Boot: read the runtime config, then render the shop. Whatever fails, the page says so in words (never blank).
import { createRoot } from "react-dom/client";
import { App } from "./App.jsx";
import { loadConfig } from "./config.js";
import { createClient } from "./client.js";
import { ErrorBoundary } from "./components.jsx";
import "./styles.css";

const root = createRoot(document.getElementById("root"));

loadConfig()
  .then((config) => {
    document.title = config.storeName;
    root.render(
      <ErrorBoundary>
        <App config={config} client={createClient(config)} />
      </ErrorBoundary>,
    );
  })
  .catch((err) => {
    root.render(
      <main className="page">
        <h1>This store is not available right now</h1>
        <p role="alert" data-testid="error">
          {err.message || "The store's settings could not be loaded."} Please reload the page in a moment.
        </p>
      </main>,
    );
  });
