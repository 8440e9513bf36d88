# Runs in the PostgreSQL image chroot after the packages: the postinst created a "main" cluster that belongs to
# no store, so it goes; the entrypoint runs initdb in $PGDATA (a volume) on first start instead.
rm -rf /var/lib/postgresql/15 /etc/postgresql/15 /var/log/postgresql
install -d -o postgres -g postgres -m 0755 /var/lib/postgresql /var/lib/postgresql/data
install -d -o postgres -g postgres -m 2775 /var/run/postgresql
test -x /usr/lib/postgresql/15/bin/initdb && test -x /usr/lib/postgresql/15/bin/pg_isready
