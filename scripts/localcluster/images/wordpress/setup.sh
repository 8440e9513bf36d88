# Runs in the WordPress image chroot after the packages: apache on 8080 as www-data with our site, and the
# wp-content seed (Debian's skeleton + twentytwentythree + the stand-ins) the entrypoint copies to a volume.
printf '%s\n' "# storeplane: apache listens on 8080 only (it runs as www-data, which cannot bind below 1024)." \
    "Listen 8080" > /etc/apache2/ports.conf
a2dissite -q 000-default
a2ensite -q storeplane-wordpress
a2enmod -q rewrite
a2disconf -q other-vhosts-access-log
a2enconf -q storeplane
for dir in /var/run/apache2 /var/lock/apache2 /var/log/apache2 /var/cache/apache2; do
    install -d -o www-data -g www-data -m 0755 "$dir"
done
seed=/usr/local/share/storeplane/wp-content-seed
# Debian's skeleton links its themes and plugins from /usr/share/wordpress: copy the targets (-L), since the seed
# ends up on a volume, and drop akismet (a spam service that would call out).
cp -RL /var/lib/wordpress/wp-content/. "$seed/"
rm -rf "$seed/plugins/akismet"
test -f "$seed/themes/twentytwentythree/style.css" && test ! -L "$seed/themes/twentytwentythree"
mkdir -p "$seed/uploads" "$seed/upgrade"
chown -R root:root "$seed"
install -d -o www-data -g www-data -m 0755 /var/www/wp-content
chown www-data:www-data /etc/wordpress
rm -rf /var/www/html /var/lib/wordpress/wp-content/uploads/* /etc/wordpress/config-*.php
test -f /usr/share/wordpress/wp-login.php && php -m | grep -qi mysqli
php -r 'exit(ini_get("opcache.enable_cli") && ini_get("opcache.file_cache") === "/tmp" ? 0 : 1);'
apache2ctl -t
