"""Benchmark: provisioning throughput under the concurrency limit, and the platform's own overhead per store.

Run: .venv/bin/python bench/provisioning/run.py [--stores 30] [--helm-seconds 1.0]
helm is replaced by a fake (a shell script) whose `upgrade --install` takes a fixed time T; kubectl by a shell fake
that answers at once. A real Celery worker (prefork) runs the real chain against PostgreSQL and Redis.
Phase 1: N stores requested at once must finish within 1.1 x the ideal time ceil(N / limit) x T.
Phase 2: stores one at a time (no queueing): the platform's overhead from 202 to helm start and from helm end to
ready, median, against the 100 ms target.
"""

import argparse
import math
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DB = "storeplane_bench_prov"
PREFIX = f"bench-prov-{os.getpid()}"

FAKE_HELM = """#!/bin/sh
# fake helm: upgrade takes $FAKE_T seconds; records start/end per release
case "$1" in
  history) echo "Error: release: not found" >&2; exit 1 ;;
  upgrade)
    echo "start $3 $(date +%s.%N)" >> "{rec}"
    sleep {t}
    echo "end $3 $(date +%s.%N)" >> "{rec}"
    echo '{{"name":"'$3'","namespace":"'$3'","version":1,"info":{{"status":"deployed"}}}}' ;;
  uninstall) echo "release uninstalled" ;;
  list) echo "[]" ;;
  *) exit 3 ;;
esac
"""

FAKE_KUBECTL = """#!/bin/sh
# fake kubectl: a healthy cluster that answers at once
for a in "$@"; do case "$a" in
  apply) cat; exit 0 ;;
  deployments,statefulsets) echo '{"items":[{"kind":"Deployment","metadata":{"name":"web"}}]}'; exit 0 ;;
  rollout) exit 0 ;;
  ingress) echo '{"items":[]}'; exit 0 ;;
  pods) echo '{"items":[{"metadata":{"name":"p","labels":{}},"spec":{"containers":[{"name":"wordpress"}]},'\
'"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}]}'; exit 0 ;;
  is-installed) cat >/dev/null; exit 1 ;;
  exec) ;;
esac; done
case " $* " in *" exec "*) cat >/dev/null; echo Success ;; esac
exit 0
"""


def env_for_bench(tools: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_ENV_FILE": "/nonexistent",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": os.environ.get("BENCH_SECRET", secrets.token_urlsafe(48)),
        "CREDENTIALS_ENCRYPTION_KEY": "YmVuY2gtb25seS1mZXJuZXQta2V5LTMyLWJ5dGVzISE=",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB}",
        "REDIS_KEY_PREFIX": PREFIX,
        "HELM_BIN": str(tools / "helm"),
        "KUBECTL_BIN": str(tools / "kubectl"),
        "KUBECONFIG": str(tools / "kubeconfig"),
        "MAX_STORES_PER_USER": "1000",
        "STORE_CREATION_COOLDOWN_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": "",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stores", type=int, default=30)
    parser.add_argument("--helm-seconds", type=float, default=1.0)
    parser.add_argument("--sequential", type=int, default=8)
    args = parser.parse_args()

    tools = Path(tempfile.mkdtemp(prefix="bench-prov-"))
    record = tools / "helm.log"
    (tools / "helm").write_text(FAKE_HELM.format(rec=record, t=args.helm_seconds))
    (tools / "kubectl").write_text(FAKE_KUBECTL)
    for name in ("helm", "kubectl"):
        (tools / name).chmod(0o755)
    (tools / "kubeconfig").write_text("")
    env = env_for_bench(tools)
    os.environ.update(env)
    subprocess.run(["dropdb", "--if-exists", "-h", "127.0.0.1", "-U", "postgres", DB], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", DB], check=True)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts.models import User
    from stores.models import Store
    from stores.services import store_create

    limit = settings.PROVISIONING_MAX_CONCURRENT
    from provisioning.tests.celery_worker import worker_argv

    worker = subprocess.Popen(
        worker_argv(concurrency=limit + 1, loglevel="WARNING"),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(4)  # worker boot
        owner = User.objects.create_user(email="bench@example.com", username="bench", password="bench-password")

        def wait_ready(ids, timeout):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                done = Store.objects.filter(pk__in=ids, status__in=["ready", "failed"]).count()
                if done == len(ids):
                    return
                time.sleep(0.05)
            raise SystemExit(f"timed out: {Store.objects.filter(pk__in=ids).values_list('status', flat=True)}")

        # Phase 1: throughput.
        started = time.time()
        ids = [store_create(owner=owner, name=f"t-{i}", engine="woocommerce").id for i in range(args.stores)]
        wait_ready(ids, timeout=args.stores * args.helm_seconds * 3 + 60)
        elapsed = max(s.provisioning_completed_at.timestamp() for s in Store.objects.filter(pk__in=ids)) - started
        failed = Store.objects.filter(pk__in=ids, status="failed").count()
        ideal = math.ceil(args.stores / limit) * args.helm_seconds
        print(
            f"phase 1: {args.stores} stores, limit {limit}, T={args.helm_seconds}s: {elapsed:.2f}s "
            f"(ideal {ideal:.2f}s) ratio {elapsed / ideal:.3f} (target <= 1.10); failed: {failed}"
        )

        # Phase 2: overhead, one store at a time.
        record.write_text("")
        before, after = [], []
        for i in range(args.sequential):
            store = store_create(owner=owner, name=f"s-{i}", engine="woocommerce")
            wait_ready([store.id], timeout=60)
            store.refresh_from_db()
            marks = dict(
                (kind, float(ts))
                for kind, rel, ts in (line.split() for line in record.read_text().splitlines())
                if rel == store.id
            )
            before.append((marks["start"] - store.created_at.timestamp()) * 1000)
            after.append((store.provisioning_completed_at.timestamp() - marks["end"]) * 1000)
        for label, values in (("202 -> helm start", before), ("helm end -> ready", after)):
            median = statistics.median(values)
            print(
                f"phase 2: {label}: median {median:.1f} ms (ratio to the 100 ms target {median / 100:.2f}); "
                f"min {min(values):.1f} max {max(values):.1f}"
            )
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


if __name__ == "__main__":
    main()
