#!/usr/bin/env bash
# `make run`: web, Celery worker and beat in the foreground (one Ctrl-C stops all). With no KUBECONFIG in the
# environment or .env, the local cluster is started (or reused) and stores are provisioned into it.
set -euo pipefail
cd "$(dirname "$0")/.."

configured=""
if [ -n "${KUBECONFIG:-}" ]; then
  configured="$KUBECONFIG"
elif [ -f .env ]; then
  configured="$(sed -n 's/^KUBECONFIG=//p' .env | tail -n1)"
fi
if [ -z "$configured" ]; then
  echo "run: no KUBECONFIG set; starting the local cluster (the first run builds Kubernetes and the store images:"
  echo "run: 15-25 minutes on 2 cores, with progress every 30 s; later runs reuse them and start in about a minute)"
  .venv/bin/python -m scripts.localcluster up
  export KUBECONFIG="$PWD/.local/cluster/kubeconfig"
else
  export KUBECONFIG="$configured"
fi
echo "run: provisioning into the cluster of $KUBECONFIG"

rm -rf .local/prometheus && mkdir -p .local/prometheus

# Once the web answers, say where to go (in the background: honcho owns the foreground).
port="${STORE_INGRESS_PORT:-$(sed -n 's/^STORE_INGRESS_PORT=//p' .env 2>/dev/null | tail -n1)}"
admin="${ADMIN_EMAIL:-$(sed -n 's/^ADMIN_EMAIL=//p' .env 2>/dev/null | tail -n1)}"
(
  for _ in $(seq 120); do
    if .venv/bin/python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/api/v1/health/live', timeout=2)" 2>/dev/null; then
      cat <<BANNER

run: storeplane is up.
  pages (sign up, create stores):  http://127.0.0.1:8000/
  operators' console:              http://127.0.0.1:8000/admin/   (login: ${admin:-set ADMIN_EMAIL and ADMIN_PASSWORD, or run manage.py createsuperuser})
  API and its docs:                http://127.0.0.1:8000/api/v1/   http://127.0.0.1:8000/api/v1/docs
  a ready store:                   http://<store id>.localhost:${port:-8080}/  (linked from the store's page; browsers resolve *.localhost to 127.0.0.1)
  Ctrl-C stops web, worker and beat; make cluster-down stops the local cluster.

BANNER
      exit 0
    fi
    sleep 1
  done
  echo "run: the web did not answer on 127.0.0.1:8000 within 2 minutes; see the web lines above"
) &
# Django reads .env itself (the environment wins over it); honcho must not re-apply it over KUBECONFIG.
exec .venv/bin/honcho --env /dev/null --procfile Procfile start
