"""The backups' Prometheus metrics: every finished backup by engine and outcome (a failure is never silent)."""

from prometheus_client import Counter, Histogram

BACKUPS = Counter("store_backups_total", "Finished store backups by engine and status.", ["engine", "status"])
BACKUP_DURATION = Histogram(
    "store_backup_duration_ms",
    "Duration of succeeded store backups in milliseconds.",
    ["engine"],
    buckets=(1000, 5000, 15000, 30000, 60000, 120000, 300000, 600000),
)
