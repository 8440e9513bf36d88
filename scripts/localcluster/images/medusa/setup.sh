# Runs in the Medusa image chroot after npm ci: builds the admin dashboard into /app/build (the @medusajs/admin
# plugin serves it at /app with autoRebuild off, so no webpack runs in a store), then gives /app (not
# node_modules) to the node user (Medusa writes uploads there); `medusa` is on PATH through /app/node_modules/.bin.
cd /app
MEDUSA_DISABLE_TELEMETRY=true NODE_ENV=production node node_modules/@medusajs/admin/bin/medusa-admin.js build
# The build's working copy of the admin UI sources and webpack's caches are not needed to serve it.
rm -rf /app/.cache /app/node_modules/.cache
test -f /app/build/index.html
chown node:node /app
install -d -o node -g node -m 0755 /app/uploads
rm -rf /tmp/npm-cache /app/.npm /root/.npm
test -x /app/node_modules/.bin/medusa
node -e 'require("/app/node_modules/typeorm/package.json").version === "0.3.16" || process.exit(1)'
