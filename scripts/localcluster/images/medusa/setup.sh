# Runs in the Medusa image chroot after npm ci: /app (not node_modules) belongs to the node user (Medusa writes
# uploads there) and `medusa` is on PATH through /app/node_modules/.bin (set in the image's PATH).
chown node:node /app
install -d -o node -g node -m 0755 /app/uploads
rm -rf /tmp/npm-cache /app/.npm /root/.npm
test -x /app/node_modules/.bin/medusa
node -e 'require("/app/node_modules/typeorm/package.json").version === "0.3.16" || process.exit(1)'
