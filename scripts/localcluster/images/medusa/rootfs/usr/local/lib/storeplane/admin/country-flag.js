// Stands in for react-country-flag in the admin dashboard's bundle (see /app/src/admin/webpack.config.js): the
// country's two-letter code as text, never a flag image from a CDN (its `svg` flags live on cdn.jsdelivr.net) and no
// flag emoji either (many systems, headless Chromium among them, have no font that draws those).
import React from "react";

export default function CountryFlag({ countryCode, className, style, title }) {
  const code = typeof countryCode === "string" && /^[a-z]{2}$/i.test(countryCode) ? countryCode.toUpperCase() : "";
  return React.createElement(
    "span",
    { role: "img", "aria-label": code, title: title || code, className, style: { fontSize: "0.75em", ...style } },
    code,
  );
}
