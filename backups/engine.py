"""What runs inside a store's pods to dump and load its data, per engine: constant shell scripts that read the
credentials from the container's own environment (never from argv or from us), and where each part comes from."""

from dataclasses import dataclass

from stores.models import Engine

# The WordPress content volume (uploads, plugins, themes) as the chart mounts it (wordpress.persistence.mountPath).
WP_CONTENT = "/var/www/html/wp-content"


@dataclass(frozen=True)
class Part:
    """One part of a backup: which pod (component label) and container, the dump and load commands, the file name
    in the bucket and its format."""

    name: str
    component: str
    container: str
    dump: tuple[str, ...]
    load: tuple[str, ...]
    filename: str
    format: str


MARIADB_DUMP = (
    "sh",
    "-c",
    # --single-transaction: a consistent snapshot of InnoDB tables without locking the shop.
    'MYSQL_PWD="$MARIADB_PASSWORD" exec mariadb-dump -h 127.0.0.1 -u "$MARIADB_USER" --single-transaction'
    ' --routines --triggers --no-tablespaces "$MARIADB_DATABASE"',
)
MARIADB_LOAD = (
    "sh",
    "-c",
    'MYSQL_PWD="$MARIADB_PASSWORD" exec mariadb -h 127.0.0.1 -u "$MARIADB_USER" "$MARIADB_DATABASE"',
)
PG_DUMP = (
    "sh",
    "-c",
    'PGPASSWORD="$POSTGRES_PASSWORD" exec pg_dump -Fc -h 127.0.0.1 -U "$POSTGRES_USER" "$POSTGRES_DB"',
)
PG_LOAD = (
    "sh",
    "-c",
    'PGPASSWORD="$POSTGRES_PASSWORD" exec pg_restore --clean --if-exists --no-owner -h 127.0.0.1'
    ' -U "$POSTGRES_USER" -d "$POSTGRES_DB"',
)
# The whole content volume as a tar stream; extracted over the new store's (same uid, no owner changes).
TAR_CREATE = ("tar", "-C", WP_CONTENT, "-cf", "-", ".")
TAR_EXTRACT = ("tar", "-C", WP_CONTENT, "--no-overwrite-dir", "--no-same-owner", "-xf", "-")

PARTS: dict[str, tuple[Part, ...]] = {
    Engine.WOOCOMMERCE: (
        Part("database", "mariadb", "mariadb", MARIADB_DUMP, MARIADB_LOAD, "database.sql", "mariadb-dump"),
        Part("uploads", "wordpress", "wordpress", TAR_CREATE, TAR_EXTRACT, "uploads.tar", "tar"),
    ),
    # Medusa keeps no uploads volume in this chart: its backup is the database.
    Engine.MEDUSA: (Part("database", "postgresql", "postgresql", PG_DUMP, PG_LOAD, "database.dump", "pg_dump-Fc"),),
}
# Engines whose backups can be restored into a new store (Medusa's restore is not built yet: see README).
RESTORABLE = frozenset({Engine.WOOCOMMERCE})


def parts_for(engine: str) -> tuple[Part, ...]:
    return PARTS[engine]
