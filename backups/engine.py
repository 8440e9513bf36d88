"""What runs inside a store's pods to dump and load its data, per engine: constant shell scripts that read the
credentials from the container's own environment (never from argv or from us), and where each part comes from."""

from dataclasses import dataclass
from pathlib import Path

import yaml
from django.conf import settings

from stores.models import Engine


def wp_content_path() -> str:
    """Where the chart mounts WordPress's content volume (uploads, plugins, themes): wordpress.persistence.mountPath
    of the platform's values file over the chart's defaults (the local images use /var/www/wp-content)."""
    chart = Path(settings.HELM_CHART_PATH)
    path = "/var/www/html/wp-content"
    for name in ("values.yaml", settings.HELM_VALUES_FILE):
        values = yaml.safe_load((chart / name).read_text()) if (chart / name).exists() else None
        found = (((values or {}).get("wordpress") or {}).get("persistence") or {}).get("mountPath")
        path = found or path
    return str(path)


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
# SQL on stdin against the store's Medusa database, stopping at the first error (the restore's rewrite).
PSQL = (
    "sh",
    "-c",
    'PGPASSWORD="$POSTGRES_PASSWORD" exec psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U "$POSTGRES_USER"'
    ' -d "$POSTGRES_DB"',
)
# Constant script: $1 is the directory; every entry in it (names NUL-separated: any name is safe) into one tar.
TAR_ENTRIES = 'cd "$1" && find . -mindepth 1 -maxdepth 1 -print0 | tar -cf - --null -T -'


def parts_for(engine: str) -> tuple[Part, ...]:
    if engine == Engine.WOOCOMMERCE:
        content = wp_content_path()
        # The whole content volume as a tar stream of what is IN it (not its root: the mount point belongs to root,
        # and extracting a "./" entry would try to chmod it); extracted over the new store's (same uid).
        tar_create = ("sh", "-c", TAR_ENTRIES, "sh", content)
        tar_extract = ("tar", "-C", content, "--no-same-owner", "-xf", "-")
        return (
            Part("database", "mariadb", "mariadb", MARIADB_DUMP, MARIADB_LOAD, "database.sql", "mariadb-dump"),
            Part("uploads", "wordpress", "wordpress", tar_create, tar_extract, "uploads.tar", "tar"),
        )
    # Medusa keeps no uploads volume in this chart: its backup is the database.
    return (Part("database", "postgresql", "postgresql", PG_DUMP, PG_LOAD, "database.dump", "pg_dump-Fc"),)
