// The create-store form: the theme only applies to WooCommerce, so its field is hidden for other engines.
(function () {
  "use strict";
  var engine = document.getElementById("id_engine");
  var theme = document.getElementById("id_theme");
  if (!engine || !theme) { return; }
  var field = theme.closest(".field");
  function sync() {
    var woo = engine.value === "woocommerce";
    field.hidden = !woo;
    theme.disabled = !woo;
  }
  engine.addEventListener("change", sync);
  sync();
})();
