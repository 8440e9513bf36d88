// Keeps a store's page current while a worker owns the store (requested, provisioning, deleting): fetches the
// page's live part every 3 s and swaps it in, and stops as soon as the status is stable.
(function () {
  "use strict";
  var IN_PROGRESS = ["requested", "provisioning", "deleting"];
  var INTERVAL_MS = 3000;
  var live = document.getElementById("store-live");
  if (!live || !window.fetch) { return; }
  var url = live.getAttribute("data-live-url");

  function inProgress() { return IN_PROGRESS.indexOf(live.getAttribute("data-status")) !== -1; }

  function schedule() { if (inProgress()) { window.setTimeout(poll, INTERVAL_MS); } }

  function swap(html) {
    var holder = document.createElement("template");
    holder.innerHTML = html.trim();
    var fresh = holder.content.getElementById("store-live");
    if (!fresh) { return; }
    live.replaceChildren.apply(live, Array.prototype.slice.call(fresh.childNodes));
    ["data-status", "data-poll"].forEach(function (name) { live.setAttribute(name, fresh.getAttribute(name)); });
    document.dispatchEvent(new CustomEvent("store:updated", { detail: { status: live.getAttribute("data-status") } }));
  }

  function poll() {
    window.fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "text/html" } })
      .then(function (response) {
        // Signed out (redirected to the login page), gone or forbidden: stop; a reload shows the right page.
        if (response.redirected || response.status === 401 || response.status === 403 || response.status === 404) {
          return null;
        }
        return response.ok ? response.text() : "";
      })
      .then(function (html) {
        if (html === null) { return; }
        if (html) { swap(html); }
        schedule();
      })
      .catch(function () { schedule(); });  // a network blip: try again at the next tick
  }

  schedule();
})();
