// Stands in for @segment/analytics-next in the admin dashboard's bundle (see /app/src/admin/webpack.config.js):
// every call of the client resolves at once and sends nothing anywhere.
const ignore = () => Promise.resolve();
const client = new Proxy({}, { get: (_target, name) => (name === "then" ? undefined : ignore) });

export const AnalyticsBrowser = { load: () => client };
