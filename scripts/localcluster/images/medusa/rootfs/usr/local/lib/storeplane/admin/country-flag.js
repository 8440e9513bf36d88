// Stands in for react-country-flag in the admin dashboard's bundle (see /app/src/admin/webpack.config.js): the flag
// is the country's regional-indicator emoji, drawn by the browser's own font, never an image from a CDN.
import React from "react";

const REGIONAL_INDICATOR_A = 0x1f1e6;

export default function CountryFlag({ countryCode, className, style, title }) {
  const code = typeof countryCode === "string" && /^[a-z]{2}$/i.test(countryCode) ? countryCode.toUpperCase() : "";
  const emoji = [...code].map((c) => String.fromCodePoint(REGIONAL_INDICATOR_A + c.charCodeAt(0) - 65)).join("");
  return React.createElement(
    "span",
    { role: "img", "aria-label": code, title: title || code, className, style },
    emoji,
  );
}
