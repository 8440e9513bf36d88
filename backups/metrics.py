"""The backups' Prometheus metrics: every finished backup by engine and outcome (a failure is never silent)."""

from prometheus_client import Counter, Gauge, Histogram

BACKUPS = Counter("store_backups_total", "Finished store backups by engine and status.", ["engine", "status"])
BACKUP_DURATION = Histogram(
    "store_backup_duration_ms",
    "Duration of succeeded store backups in milliseconds.",
    ["engine"],
    buckets=(1000, 5000, 15000, 30000, 60000, 120000, 300000, 600000),
)
# Set by beat's schedule sweep (one process): stores whose scheduled backups are overdue.
BACKUPS_OVERDUE = Gauge(
    "store_backups_overdue",
    "Stores with no succeeded scheduled backup in twice their interval.",
    multiprocess_mode="max",
)
