// @medusajs/admin's own extension point for its build (src/admin/webpack.config.js gets the webpack config and
// returns it): the dashboard must load nothing from outside the store, so the two modules that fetch from a CDN are
// replaced by local ones: Segment's analytics client (script and settings from cdn.segment.com) and
// react-country-flag (its `svg` flags are images on cdn.jsdelivr.net).
const path = require("path");

const LOCAL = "/usr/local/lib/storeplane/admin";

module.exports = (config) => {
  config.resolve.alias = {
    ...config.resolve.alias,
    "@segment/analytics-next$": path.join(LOCAL, "no-analytics.js"),
    "react-country-flag$": path.join(LOCAL, "country-flag.js"),
  };
  return config;
};
