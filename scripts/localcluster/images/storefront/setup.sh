# Runs in the storefront image chroot after the packages and the SPA copy: nginx with our config only (Debian's
# default site and logs removed), the SPA owned by root and readable by all, and a config check as uid 101.
rm -f /etc/nginx/sites-enabled/* /etc/nginx/sites-available/* /etc/nginx/conf.d/*
rm -rf /var/www/html /var/log/nginx/* /var/lib/nginx/*
chown -R root:root /usr/share/storefront
chmod -R u=rwX,go=rX /usr/share/storefront
test -f /usr/share/storefront/html/index.html
ls /usr/share/storefront/html/assets/*.js > /dev/null
install -d -o 101 -g 101 /tmp/nginx
echo 'listen 8080 default_server;' > /tmp/nginx/listen.conf
# nginx opens /dev/stdout (the access log) as uid 101: runc hands a container's stdio to its user, here a file
# owned by 101 stands in for it.
install -o 101 -g 101 -m 0600 /dev/null /tmp/nginx/out
if ! setpriv --reuid 101 --regid 101 --clear-groups nginx -t -e stderr > /tmp/nginx/out 2>&1; then
    cat /tmp/nginx/out >&2
    exit 1
fi
rm -rf /tmp/nginx
jq --version
