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
  echo "run: no KUBECONFIG set; starting the local cluster (first run builds it: ~10 minutes)"
  .venv/bin/python -m scripts.localcluster up
  export KUBECONFIG="$PWD/.local/cluster/kubeconfig"
else
  export KUBECONFIG="$configured"
fi
echo "run: provisioning into the cluster of $KUBECONFIG"

rm -rf .local/prometheus && mkdir -p .local/prometheus
# Django reads .env itself (the environment wins over it); honcho must not re-apply it over KUBECONFIG.
exec .venv/bin/honcho --env /dev/null --procfile Procfile start
