"""The fault suite's private platform: its own PostgreSQL (initdb into a temporary directory) and Redis on free
ports, with real web (gunicorn), Celery worker and beat processes bound to them and to the local cluster, so a case
can stop and start THOSE (never the machine's shared 5432/6379), plus the kube-apiserver outage and readers of the
store's audit and run rows. A case talks to the platform as a tenant would: over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import requests

from scripts.localcluster.util import free_port

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
PG_BIN = Path(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))[-1]).parent
PREFIX = "faults"  # Redis key prefix and Celery queue of the private platform
METRICS_TOKEN = "faults-metrics-token"  # noqa: S105  (a test value)
PASSWORD = "Fault-Suite-Pass-2026"  # noqa: S105  (the test tenant's password)

# What every process of the private platform runs with: short locks, leases and recovery periods so a case ends in
# seconds rather than minutes, a quick breaker, and enough retries to outlast a 30 s outage.
PLATFORM_ENV = {
    "STORE_CREATION_COOLDOWN_SECONDS": "0",
    "MAX_STORES_PER_USER": "10",
    "STORE_LOCK_TTL_SECONDS": "6",
    "PROVISIONING_LEASE_SECONDS": "6",
    "STORE_LOCK_WAIT_SECONDS": "20",
    "RECOVERY_GRACE_SECONDS": "15",
    "RECOVERY_INTERVAL_SECONDS": "5",
    "RECONCILE_INTERVAL_SECONDS": "3600",
    "PROVISIONING_RETRY_BASE_SECONDS": "2",
    "PROVISIONING_RETRY_MAX_SECONDS": "8",
    "PROVISIONING_TASK_MAX_RETRIES": "10",
    "CB_FAILURE_THRESHOLD": "2",
    "CB_RESET_TIMEOUT_SECONDS": "8",
    "METRICS_TOKEN": METRICS_TOKEN,
    "API_RATE_LIMIT": "100000/m",  # 50 readers share one address: the case is about 5xx, not the limit
    "PROMETHEUS_MULTIPROC_DIR": "",
    "LOG_FORMAT": "json",
}


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _as_postgres(argv: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: as root, run them as the machine's postgres user."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class PrivatePostgres:
    """A throwaway PostgreSQL cluster: trust auth on 127.0.0.1:<port>, no fsync (nothing here must survive)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.log = root / "postgres.log"

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        initdb = [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
        subprocess.run(_as_postgres([*initdb, "--no-sync"]), check=True, capture_output=True, timeout=120)
        self.start()

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
            " -c synchronous_commit=off -c shared_buffers=32MB -c max_connections=60"
        )
        pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60"]
        subprocess.run(_as_postgres([*pg_ctl, "start"]), check=True, capture_output=True, timeout=90)

    def stop(self) -> None:
        pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop"]
        subprocess.run(_as_postgres(pg_ctl), check=False, capture_output=True, timeout=90)

    def url(self, database: str = "storeplane") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "storeplane") -> psycopg.Connection:
        return psycopg.connect(self.url(database), autocommit=True, connect_timeout=5)


class PrivateRedis:
    """A throwaway Redis on 127.0.0.1:<port>, nothing persisted: a restart starts it empty."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly"),
                *("no", "--daemonize", "yes", "--dir", str(self.root), "--logfile", str(self.root / "redis.log")),
                *("--pidfile", str(self.root / "redis.pid")),
            ],
            check=True,
            timeout=30,
        )
        wait_for(self.answers, 30, "the private Redis to answer")

    def answers(self) -> bool:
        out = subprocess.run(
            ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True, timeout=10, check=False
        )
        return out.stdout.strip() == "PONG"

    def stop(self) -> None:
        subprocess.run(["redis-cli", "-p", str(self.port), "shutdown", "nosave"], capture_output=True, timeout=30)
        wait_for(lambda: not self.answers(), 30, "the private Redis to stop")

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, timeout=10, check=True
        )
        return out.stdout.strip()


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path
    killed: bool = False

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL to the process and its children (a worker and its pool, mid-command)."""
        self.killed = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self, timeout: float = 30) -> None:
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Platform:
    """web + worker(s) + beat on the private PostgreSQL and Redis, provisioning into the local cluster."""

    pg: PrivatePostgres
    redis: PrivateRedis
    cluster: Any
    logs: Path
    env_overrides: dict[str, str] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)
    web_port: int = 0
    session: requests.Session = field(default_factory=requests.Session)
    token: str = ""

    # --- processes -------------------------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **self.cluster.env,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": self.pg.url(),
            "DB_CONN_MAX_AGE": "60",
            "REDIS_URL": self.redis.url,
            "CELERY_BROKER_URL": self.redis.url,
            "REDIS_KEY_PREFIX": PREFIX,
            "KUBECONFIG": str(self.cluster.kubeconfig),
            "HELM_BIN": str(self.cluster.helm),
            "KUBECTL_BIN": str(self.cluster.kubectl),
            **PLATFORM_ENV,
            **self.env_overrides,
            **extra,
        }

    def _spawn(self, name: str, argv: list[str], **extra: str) -> Proc:
        log = self.logs / f"{name}-{len(self.procs)}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen(  # noqa: S603  (fixed argv)
                argv, cwd=ROOT, env=self.env(**extra), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def start_worker(self, *, concurrency: int = 2, **extra: str) -> Proc:
        from provisioning.tests.celery_worker import worker_argv

        proc = self._spawn("worker", worker_argv(concurrency=concurrency), **extra)
        wait_for(lambda: " ready." in proc.text() or not proc.alive(), 90, "the worker to start", interval=0.3)
        assert proc.alive(), "the worker did not start:\n" + proc.text()[-2000:]
        return proc

    def start_beat(self) -> Proc:
        schedule = self.logs / "celerybeat-schedule"
        argv = [str(VENV_BIN / "celery"), "-A", "config", "beat", "--loglevel", "INFO", "--schedule", str(schedule)]
        return self._spawn("beat", argv)

    def start_web(self, *, workers: int = 2) -> Proc:
        self.web_port = free_port()
        argv = [str(VENV_BIN / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi:application"]
        proc = self._spawn(
            "web",
            argv,
            GUNICORN_BIND=f"127.0.0.1:{self.web_port}",
            GUNICORN_WORKERS=str(workers),
            GUNICORN_THREADS="8",
        )
        wait_for(lambda: self._answers("/api/v1/health/live"), 60, "the private web to answer")
        return proc

    def _answers(self, path: str) -> bool:
        try:
            return requests.get(self.url(path), timeout=3).status_code == 200
        except requests.RequestException:
            return False

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()

    # --- the API, as a tenant ----------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.web_port}{path}"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return self.session.request(method, self.url(path), headers=headers, timeout=30, **kwargs)

    def sign_up(self, name: str) -> None:
        body = {"email": f"{name}@faults.example.com", "username": name, "password": PASSWORD}
        answer = requests.post(self.url("/api/v1/auth/register"), json=body, timeout=30)
        assert answer.status_code == 201, answer.text
        self.token = answer.json()["token"]

    def create_store(self, name: str) -> str:
        answer = self.call("POST", "/api/v1/stores", json={"name": name, "engine": "woocommerce"})
        assert answer.status_code == 202, answer.text
        store_id = answer.json()["store"]["id"] if "store" in answer.json() else answer.json()["id"]
        return store_id

    def store(self, store_id: str) -> dict:
        answer = self.call("GET", f"/api/v1/stores/{store_id}")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return body.get("store", body)

    def wait_status(self, store_id: str, statuses: set[str], timeout: float) -> dict:
        def reached():
            dead = [p for p in self.procs if p.name == "worker" and not p.killed and not p.alive()]
            assert not dead, "a worker exited:\n" + dead[0].text()[-3000:]
            with contextlib.suppress(requests.RequestException, AssertionError):
                store = self.store(store_id)
                return store if store["status"] in statuses else None
            return None

        try:
            return wait_for(reached, timeout, f"store {store_id} to be {'/'.join(sorted(statuses))}", interval=1)
        except AssertionError as error:
            if "a worker exited" in str(error):
                raise
            raise AssertionError(f"{error}\n{self.explain(store_id)}") from None

    # --- what the database holds -------------------------------------------------------------------------------

    def rows(self, sql: str, *args: Any) -> list[dict]:
        with self.pg.connect() as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cursor:
            cursor.execute(sql, args)
            return list(cursor.fetchall())

    def status(self, store_id: str) -> str:
        return self.rows("select status from stores_store where id = %s", store_id)[0]["status"]

    def audit(self, store_id: str) -> list[dict]:
        return self.rows(
            "select id, event_type, previous_status, new_status, message, metadata::text as metadata, created_at"
            " from audit_auditevent where store_id = %s order by id",
            store_id,
        )

    def runs(self, store_id: str) -> list[dict]:
        return self.rows(
            "select id, operation, step, status, attempt, argv::text as argv, error, traceback, started_at,"
            " finished_at from provisioning_provisioningrun where store_id = %s order by id",
            store_id,
        )

    def secrets_of(self, store_id: str) -> list[str]:
        """Every secret value of the store (its generated secrets and admin password), decrypted as the worker
        does: what must never appear in an audit row, a run row or an error."""
        from core.crypto import decrypt_json

        row = self.rows("select secrets, admin_credentials from stores_store where id = %s", store_id)[0]
        values: list[str] = [PASSWORD]
        for column in ("secrets", "admin_credentials"):
            if row[column]:
                data = decrypt_json(row[column])
                values += [str(v) for k, v in (data or {}).items() if k not in ("email", "username") and v]
        return [v for v in values if len(v) >= 8]

    def explain(self, store_id: str) -> str:
        lines = [f"{r['step']}: {r['status']} {r['error'][:300]}" for r in self.runs(store_id)]
        lines += [f"audit {a['event_type']}: {a['message'][:200]}" for a in self.audit(store_id)]
        for proc in self.procs:
            tail = [line for line in proc.text().splitlines() if '"ERROR"' in line or "Error" in line][-8:]
            lines += [f"{proc.name} ({'alive' if proc.alive() else 'exited'}): {t[:400]}" for t in tail]
        return "\n".join(lines)

    def assert_story_intact(self, store_id: str) -> None:
        """The store's audit and run rows: in order (ids and times agree), every run finished, none left running,
        and no secret in any of them."""
        audit, runs = self.audit(store_id), self.runs(store_id)
        assert audit, "no audit rows"
        times = [a["created_at"] for a in audit]
        assert times == sorted(times), "audit rows out of order"
        starts = [r["started_at"] for r in runs]
        assert starts == sorted(starts), "run rows out of order"
        assert all(r["status"] != "running" and r["finished_at"] for r in runs), [
            (r["step"], r["status"]) for r in runs if r["status"] == "running"
        ]
        text = json.dumps([audit, runs], default=str)
        for secret in self.secrets_of(store_id):
            assert secret not in text, "a secret is in the store's audit or run rows"

    def transitions(self, store_id: str) -> list[tuple[str, str]]:
        return [
            (a["previous_status"], a["new_status"]) for a in self.audit(store_id) if a["event_type"] == "status_change"
        ]

    # --- the cluster -------------------------------------------------------------------------------------------

    def run_step(self, store_id: str, step: str, status: str = "running") -> bool:
        return bool(
            self.rows(
                "select 1 from provisioning_provisioningrun where store_id = %s and step = %s and status = %s",
                store_id,
                step,
                status,
            )
        )

    def helm_revisions(self, store_id: str) -> list[dict]:
        out = self.cluster.helm_run("history", store_id, "-n", store_id, "-o", "json", check=False).stdout.strip()
        return json.loads(out) if out.startswith("[") else []

    def namespace_exists(self, store_id: str) -> bool:
        out = self.cluster.kubectl_run("get", "namespace", store_id, "--ignore-not-found", "-o", "name", check=False)
        return bool(out.stdout.strip())

    def remove_stores(self) -> None:
        """Whatever the case's stores left in the cluster goes, all at once (uninstall, then the namespaces)."""
        ids = [r["id"] for r in self.rows("select id from stores_store")]
        live = [i for i in ids if self.namespace_exists(i)]
        for store_id in live:
            self.cluster.helm_run("uninstall", store_id, "-n", store_id, "--timeout", "60s", check=False, timeout=90)
        for store_id in live:
            self.cluster.kubectl_run("delete", "namespace", store_id, "--wait=false", check=False)
        with contextlib.suppress(AssertionError):
            wait_for(lambda: not any(self.namespace_exists(i) for i in live), 180, "the case's namespaces to go")


def migrate(pg: PrivatePostgres, redis: PrivateRedis, cluster: Any) -> None:
    with pg.connect("postgres") as conn:
        conn.execute("create database storeplane")
    env = Platform(pg, redis, cluster, pg.root).env()
    out = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]


def reset_database(pg: PrivatePostgres) -> None:
    """Each case starts with no users, stores, audit or runs (the schema stays)."""
    with pg.connect() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "select tablename from pg_tables where schemaname = 'public' and tablename <> 'django_migrations'"
                " and tablename not like 'django_content_type' and tablename not like 'auth_permission'"
            )
        ]
        conn.execute("truncate " + ", ".join(f'"{t}"' for t in tables) + " restart identity cascade")


# --- the Kubernetes API server -------------------------------------------------------------------------------


@contextlib.contextmanager
def apiserver_down() -> Iterator[None]:
    """The local cluster's kube-apiserver stopped for the block, then started again exactly as `up` started it
    (same argv, environment and log) and recorded in the cluster's state, so `status` stays healthy. The machine
    lock is held throughout: no `up` elsewhere mistakes the outage for a dead cluster and rebuilds it."""
    from scripts.localcluster import cluster

    with cluster.machine_lock(timeout=300):
        owner = cluster.read_owner()
        procs = cluster.recorded_procs(owner)
        apiserver = next(p for p in procs if p.name == "kube-apiserver")
        assert apiserver.alive(), "kube-apiserver is not running"
        argv = [a.decode() for a in Path(f"/proc/{apiserver.pid}/cmdline").read_bytes().split(b"\0") if a]
        raw_env = Path(f"/proc/{apiserver.pid}/environ").read_bytes().split(b"\0")
        env = dict(e.decode(errors="replace").split("=", 1) for e in raw_env if b"=" in e)
        os.kill(apiserver.pid, signal.SIGTERM)
        try:
            wait_for(lambda: not apiserver.alive(), 20, "kube-apiserver to stop", interval=0.2)
        except AssertionError:
            os.kill(apiserver.pid, signal.SIGKILL)
        try:
            yield
        finally:
            with open(cluster.LOGS / "kube-apiserver.log", "ab") as log:
                child = subprocess.Popen(  # noqa: S603  (the argv it ran with)
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd="/",
                    env=env,
                    start_new_session=True,
                )
            started = cluster.Proc("kube-apiserver", child.pid, cluster._starttime(child.pid) or "")
            owner["procs"] = [started.__dict__ if p.name == "kube-apiserver" else p.__dict__ for p in procs]
            cluster._write_owner(owner)
            api = cluster.api_for(owner)
            wait_for(api.ready, 120, "kube-apiserver to answer again", interval=1)
            # Still under the lock until the whole core is healthy again (the node Ready: the node controller marks
            # it NotReady for a moment after the outage): an `up` elsewhere that found it unhealthy would rebuild the
            # cluster under every other run.
            wait_for(lambda: cluster.core_healthy(owner), 180, "the cluster's core to be healthy again", interval=1)


def cluster_healthy() -> bool:
    """What `python -m scripts.localcluster status` reports as healthy: every component, the API, the node, the
    guards and the ingress controller."""
    from scripts.localcluster import cluster

    return cluster.healthy(cluster.read_owner())


def scrub(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
