"""API benchmark: gunicorn (config/gunicorn.py, DEBUG off) on 127.0.0.1, wrk from a second process against
authenticated endpoints and a minimal Django view returning the same JSON, measured in the same run. Prints req/s,
p50/p99, each endpoint's ratio to the floor, and the resident memory of the web and Celery worker processes.

    .venv/bin/python -m bench.api.run [--endpoints /api/v1/auth/me,/api/v1/stores] [--duration 10] [--rounds 3]
                                      [--connections 50] [--threads 2]

Needs PostgreSQL and Redis (make services); installs wrk from Debian when missing. Not part of `make test`.
Traffic goes to 127.0.0.1 only, and every load run stops after --duration seconds."""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
BENCH_DB = "storeplane_bench"
API_FLOOR = "floor under /api/ (stores)"
# The same JSON from a DRF view that only authenticates (the contract's JWT check and user reload): what no
# authenticated endpoint can go below, next to its own bare floor.
JWT_FLOOR = "DRF view + JWT check only (stores)"


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: installing the Debian package", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False)
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "update", "-q"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)
    return shutil.which("wrk") or "wrk"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_env(workdir: Path) -> dict[str, str]:
    from cryptography.fernet import Fernet

    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/storeplane")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.api.settings",
        "DJANGO_ENV_FILE": str(workdir / "none.env"),  # production-like: nothing from a developer's .env
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "CREDENTIALS_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": base_url.rsplit("/", 1)[0] + "/" + BENCH_DB,
        "REDIS_KEY_PREFIX": f"bench-{os.getpid()}",
        # The global limit stays in the request path (its Redis round trip is part of the cost) but is set high
        # enough that wrk, from one address, is never refused.
        "API_RATE_LIMIT": "100000000/m",
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prometheus"),
        "LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("PYTEST_VERSION", None)
    return env


def django(env: dict[str, str], code: str) -> str:
    done = subprocess.run(
        [str(PYTHON), "-c", "import django; django.setup()\n" + code],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.stdout.strip()


def prepare(env: dict[str, str]) -> tuple[str, dict]:
    """A fresh bench database, a tenant with 20 stores (5 of them ready, with credentials), its token, and the body
    each measured endpoint returns, keyed by path: the floor view returns the same JSON."""
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", BENCH_DB], check=False)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", BENCH_DB], check=True)
    subprocess.run([str(PYTHON), "manage.py", "migrate", "-v", "0"], env=env, cwd=ROOT, check=True, timeout=300)
    out = django(
        env,
        "import json\n"
        "from accounts.models import User\n"
        "from accounts.services import tokens_for\n"
        "from accounts.api.serializers import user_detail\n"
        "from stores.models import Store\n"
        "from stores.api.serializers import store_representation\n"
        "u = User.objects.create_user(email='bench@example.com', username='bench', password='bench-pass-123')\n"
        "for i in range(20):\n"
        "    s = Store(name=f'shop-{i}', engine='woocommerce', theme='storefront', owner=u)\n"
        "    s.namespace = s.helm_release = s.id\n"
        "    s.__dict__['status'] = 'ready' if i < 5 else 'requested'\n"
        "    if i < 5:\n"
        "        s.storefront_url = f'http://{s.id}.localhost'; s.admin_url = s.storefront_url + '/wp-admin'\n"
        "        s.admin_credentials = {'email': u.email, 'username': 'admin', 'password': 'x' * 16}\n"
        "    s.save(force_insert=True)\n"
        "stores = list(Store.objects.filter(owner=u).order_by('-created_at', '-id'))\n"
        "one = stores[-1]\n"
        "bodies = {'/api/v1/auth/me': {'user': user_detail(u)},\n"
        "          '/api/v1/stores': {'stores': [store_representation(s, u) for s in stores], 'total': 20,\n"
        "                             'limit': 50, 'offset': 0},\n"
        "          '/api/v1/stores/' + one.id: {'store': store_representation(one, u)}}\n"
        "print(json.dumps({'token': tokens_for(u).access, 'bodies': bodies, 'one': one.id}, default=str))\n",
    )
    data = json.loads(out.splitlines()[-1])
    return data["token"], data


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310  (127.0.0.1 only)
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * _UNITS[unit]


def run_wrk(wrk: str, url: str, token: str | None, args) -> dict:
    argv = [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency", url]
    if token:
        argv[1:1] = ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=args.duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "requests": requests,
        "p50": p50,
        "p99": p99,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "errors": errors.group(1) if errors else "",
    }


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the processes have used so far (/proc/PID/stat utime and stime)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--endpoints",
        default="/api/v1/stores,STORE,/api/v1/auth/me",
        help="comma-separated authenticated GET paths (STORE: one of the bench tenant's stores)",
    )
    parser.add_argument("--duration", type=int, default=6, help="seconds of load per measurement window")
    parser.add_argument("--rounds", type=int, default=5, help="floor/endpoint pairs measured per endpoint")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", default=os.environ.get("GUNICORN_WORKERS", "2"))
    parser.add_argument("--max-requests", type=int, default=0, help="gunicorn max_requests (0: never recycle)")
    args = parser.parse_args()

    wrk = ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="storeplane-bench-"))
    env = bench_env(workdir)
    token, prepared = prepare(env)
    endpoints = [
        f"/api/v1/stores/{prepared['one']}" if e.strip() == "STORE" else e.strip()
        for e in args.endpoints.split(",")
        if e.strip()
    ]
    env["BENCH_FLOOR_BODIES"] = json.dumps(prepared["bodies"])
    port = free_port()
    # Worker recycling (max_requests) lands in whichever measurement happens to cross the count, and the floor's
    # thousands of requests per second push every worker there: off by default, so runs compare steady states.
    env.update(
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS=str(args.workers),
        GUNICORN_MAX_REQUESTS=str(args.max_requests),
    )
    web_log = open(workdir / "web.log", "w")  # noqa: SIM115  (open for the server's lifetime)
    web = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-c", "config/gunicorn.py", "config.wsgi:application"],
        env=env,
        cwd=ROOT,
        stdout=web_log,
        stderr=subprocess.STDOUT,
    )
    worker = None
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/api/v1/health/live")
        targets = []
        for e in endpoints:  # each endpoint right after the floor view that returns its JSON
            targets += [(f"floor for {e}", f"/bench/floor?for={e}", None), (e, e, token)]
        targets.append((API_FLOOR, "/api/v1/bench/floor?for=/api/v1/stores", None))
        targets.append((f"floor for {JWT_FLOOR}", "/bench/floor?for=/api/v1/stores", None))
        targets.append((JWT_FLOOR, "/api/v1/bench/drf-auth-floor?for=/api/v1/stores", token))
        for _label, path, tok in targets:  # warm-up: imports, connections, caches
            run_wrk(wrk, base + path, tok, argparse.Namespace(**{**vars(args), "duration": 3}))
        # Rounds of back-to-back pairs (floor, then its endpoint): on a small shared machine the rate drifts by 2x
        # between windows, so each ratio comes from neighbouring windows and the median over rounds is reported.
        rounds: dict[str, list[dict]] = {label: [] for label, _, _ in targets}
        web_pids = [web.pid, *children(web.pid)]
        for _ in range(args.rounds):
            for label, path, tok in targets:
                before = cpu_seconds(web_pids)
                result = run_wrk(wrk, base + path, tok, args)
                # CPU the web processes spent per request: unlike req/s, barely moved by what else the machine runs.
                result["cpu_ms"] = (cpu_seconds(web_pids) - before) * 1000 / max(1, result["requests"])
                rounds[label].append(result)

        worker = subprocess.Popen(
            [str(ROOT / ".venv/bin/celery"), "-A", "config", "worker", "--concurrency", "1", "--loglevel", "WARNING"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(12)
        web_rss = [(pid, rss_mb(pid)) for pid in [web.pid, *children(web.pid)]]
        worker_rss = [(pid, rss_mb(pid)) for pid in [worker.pid, *children(worker.pid)]]
    finally:
        if worker is not None:
            stop(worker)
        stop(web)
        web_log.close()

    print(f"\ngunicorn {args.workers} workers x {env.get('GUNICORN_THREADS', '4')} threads (gthread), "
          f"max_requests {args.max_requests}, DEBUG off; wrk -t{args.threads} "
          f"-c{args.connections} -d{args.duration}s on 127.0.0.1; {os.cpu_count()} CPUs shared with wrk")  # fmt: skip
    api_floor = rounds[API_FLOOR]
    print(f"{'':44} {'req/s':>7} {'p50':>7} {'p99':>7} {'non':>5} {'floor/endpoint req/s':>20} "
          f"{'web CPU':>8} {'CPU vs floor':>12} {'CPU vs /api/':>12}")  # fmt: skip
    print(f"{'':44} {'':>7} {'ms':>7} {'ms':>7} {'2xx':>5} {'median (range)':>20} {'ms/req':>8}")
    for label, runs in rounds.items():
        floors = rounds.get(f"floor for {label}", runs)
        ratios = sorted(f["rps"] / r["rps"] if r["rps"] else float("inf") for f, r in zip(floors, runs, strict=True))
        rps, p50, p99, cpu = (statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99", "cpu_ms"))
        cpu_ratio = statistics.median(r["cpu_ms"] / f["cpu_ms"] for f, r in zip(floors, runs, strict=True))
        cpu_api = statistics.median(r["cpu_ms"] / f["cpu_ms"] for f, r in zip(api_floor, runs, strict=True))
        non2xx = sum(r["non2xx"] for r in runs)
        spread = f"{statistics.median(ratios):.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f})"
        print(
            f"{label[:44]:44} {rps:7.0f} {p50:7.1f} {p99:7.1f} {non2xx:5d} {spread:>20} "
            f"{cpu:8.2f} {cpu_ratio:11.2f}x {cpu_api:11.2f}x"
        )
        for r in runs:
            if r["errors"]:
                print(f"{'':44} socket errors: {r['errors']}")
    print(
        f"medians over {args.rounds} rounds of back-to-back windows. floor/endpoint: the bare view's req/s over the "
        "endpoint's in the same round (target < 2x).\nweb CPU: user+system CPU of the gunicorn processes per "
        "request, which moves far less with the machine's load than req/s;\nCPU vs floor / vs /api/: the endpoint's "
        "web CPU over the bare view's, and over the same view under /api/ (rate limit, CORS)."
    )
    print("\nresident memory (MB):")
    for role, rows in (("web", web_rss), ("celery worker", worker_rss)):
        for n, (pid, mb) in enumerate(rows):
            print(f"  {role:14} {'master' if n == 0 else 'child':6} pid {pid:<8} {mb:7.1f}")
    print(f"\nlogs: {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
