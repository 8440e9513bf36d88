"""API benchmark (issue 20): the platform's own gunicorn (config/gunicorn.py, DEBUG off) on 127.0.0.1 against its
own database, wrk at 50 connections, every endpoint of the issue's table next to the original Express backend's
figures and next to this run's own floor (a bare Django view through the same gunicorn and middleware).

    make bench                                    # 3 x 20 s per point, the issue's method (about 12 minutes)
    BENCH_QUICK=1 make bench                      # 1 x 5 s per point, for a quick look
    BENCH_ROUNDS=2 BENCH_SECONDS=10 make bench    # anything in between

Seeds both data sizes itself: an admin, 100 tenants and 20 stores first (health, floor and the list at 20), then
10,000 stores and 100,000 audit rows (the list at 10,000, a store by id, the audit list), then logins. Each round
measures the floor and then each endpoint of its phase; ratios against the floor use the floor of the same round.
Per point: req/s, p50/p99 (ms), non-2xx and socket errors, CPU per request of the gunicorn processes and of the
PostgreSQL backends serving them (user + system from /proc, polled while wrk runs), and the peak RSS (VmHWM) of
the largest worker. Rate limits stay on, raised out of the way through the environment as an operator would.
Needs PostgreSQL and Redis (make services); installs Debian's wrk when missing. Traffic stays on 127.0.0.1."""

from __future__ import annotations

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
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
CONNECTIONS = 50

# Issue 20's table: the original Express backend (one Node 20 process, NODE_ENV=production) on this kind of
# 2-core machine, wrk c=50, 3 x 20 s per point. CPU is ms per request (web + PostgreSQL where the issue splits it).
ORIGINAL = {
    "health/live": {"rps": 3335, "p99": 62, "cpu": 0.33},
    "store list, 20 stores": {"rps": 637, "p99": 138, "cpu": 1.6},
    "store list, 10,000 stores": {"rps": 400, "p99": 202, "cpu": 2.4 + 1.4},
    "store by id": {"rps": 823, "p99": 98, "cpu": 1.2},
    "audit, 100,000 rows": {"rps": 176, "p99": 422, "cpu": 3.0},
    "login": {"rps": 1, "p99": None, "cpu": None},  # ~1 req/s with 30 timeouts (bcryptjs cost 12)
}
FLOOR = "floor"


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: installing Debian's wrk package", flush=True)
    if subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False).returncode:
        subprocess.run(["apt-get", "update", "-q"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)
    return shutil.which("wrk") or "wrk"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_database() -> tuple[str, str]:
    """The bench's own database, named after DATABASE_URL's (storeplane_x -> storeplane_x_bench): never a real one."""
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/storeplane")
    prefix, name = base.rsplit("/", 1)
    name = name.split("?")[0] + "_bench"
    return prefix + "/" + name, name


def bench_env(workdir: Path) -> dict[str, str]:
    from cryptography.fernet import Fernet

    url, _ = bench_database()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.api.settings",
        "DJANGO_ENV_FILE": str(workdir / "none.env"),  # production-like: nothing from a developer's .env
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "CREDENTIALS_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": url,
        "REDIS_KEY_PREFIX": f"bench-{os.getpid()}",
        # The limits stay in the request path (their Redis round trips are part of the cost), raised as an operator
        # would for a load test from one address: wrk is never refused.
        "API_RATE_LIMIT": "1000000000/m",
        "LOGIN_RATE_LIMIT": "1000000000/m",
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prometheus"),
        "LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT),
        "DJANGO_STATIC_ROOT": str(workdir / "static"),  # collected below, as the Dockerfile does
    }
    env.pop("PYTEST_VERSION", None)
    return env


def prepare(env: dict[str, str]) -> dict:
    """A fresh bench database with the small data set; returns the admin's token, a store id and the login user."""
    _, name = bench_database()
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", name], check=False)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    for command in (["collectstatic", "--noinput", "--skip-checks"], ["migrate"]):
        subprocess.run([str(PYTHON), "manage.py", *command, "-v", "0"], env=env, cwd=ROOT, check=True, timeout=300)
    return seed(env, "small")


def seed(env: dict[str, str], size: str) -> dict:
    done = subprocess.run(
        [str(PYTHON), "-m", "bench.api.seed", size], env=env, cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    if done.returncode:
        raise RuntimeError(f"seeding {size} failed:\n{done.stderr[-3000:]}")
    out = done.stdout
    return json.loads(out.strip().splitlines()[-1])


def wait_http(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310  (127.0.0.1 only)
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


# --- /proc ---------------------------------------------------------------------------------------------------


def proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process so far, or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_hwm_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process, MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def postmaster_pid() -> int:
    """PostgreSQL's postmaster (the first line of postmaster.pid in its data directory): the backends' parent."""
    data_directory = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "show data_directory"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return int((Path(data_directory) / "postmaster.pid").read_text().split()[0])


def pg_backends(postmaster: int, database: str) -> list[int]:
    """The PostgreSQL backends connected to the bench database (their process title names it)."""
    found = []
    for pid in children(postmaster):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f" {database} " in title:
            found.append(pid)
    return found


@dataclass
class CpuWatch:
    """Polls the CPU of a changing set of processes while a load runs: a process that appears mid-run (a recycled
    worker, a new database connection) counts from zero, one that exits keeps what it had at its last poll."""

    pids: object  # () -> list[int]
    first: dict[int, float] = field(default_factory=dict)
    last: dict[int, float] = field(default_factory=dict)
    hwm: dict[int, float] = field(default_factory=dict)
    new: set[int] = field(default_factory=set)

    def poll(self, *, start: bool = False) -> None:
        for pid in self.pids():
            cpu = proc_cpu(pid)
            if cpu is None:
                continue
            if pid not in self.first:
                self.first[pid] = cpu if start else 0.0
                if not start:
                    self.new.add(pid)
            self.last[pid] = cpu
            self.hwm[pid] = max(self.hwm.get(pid, 0.0), proc_hwm_mb(pid))

    def seconds(self) -> float:
        return sum(self.last[p] - self.first[p] for p in self.last)


# --- wrk -------------------------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * _UNITS[unit]


@dataclass
class Point:
    label: str
    path: str
    token: str | None = None
    script: Path | None = None  # a wrk Lua script (the login's POST)


def run_wrk(wrk: str, base: str, point: Point, seconds: int, watches: dict[str, CpuWatch]) -> dict:
    argv = [wrk, "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    if point.token:
        argv += ["-H", f"Authorization: Bearer {point.token}"]
    if point.script:
        argv += ["-s", str(point.script)]
    proc = subprocess.Popen([*argv, base + point.path], stdout=subprocess.PIPE, text=True)
    for watch in watches.values():
        watch.poll(start=True)
    while proc.poll() is None:
        time.sleep(0.25)
        for watch in watches.values():
            watch.poll()
    out = proc.stdout.read()
    for watch in watches.values():
        watch.poll()
    if proc.returncode:
        raise RuntimeError(f"wrk failed on {point.path}: {out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": requests,
        "p50": _ms(re.search(r"\s50%\s+(\S+)", out).group(1)),
        "p99": _ms(re.search(r"\s99%\s+(\S+)", out).group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "errors": sum(int(n) for n in errors.groups()[:3]) if errors else 0,
        "timeouts": int(errors.group(4)) if errors else 0,
        **{f"{name}_ms": w.seconds() * 1000 / max(1, requests) for name, w in watches.items()},
        "rss_mb": max(watches["web"].hwm.get(p, 0.0) for p in watches["web"].last) if watches["web"].last else 0.0,
    }


def drain(base: str, timeout: float = 120) -> None:
    """Waits until the server answers a probe at once: requests wrk left queued (slow logins) must not land in
    the next point's window."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            with urllib.request.urlopen(base + "/api/v1/health/live", timeout=5):  # noqa: S310  (127.0.0.1 only)
                pass
        except OSError:
            pass
        if time.monotonic() - started < 0.2:
            return
        time.sleep(0.5)


def profile_start(workdir: Path, master: int, label: str, seconds: int) -> subprocess.Popen | None:
    """BENCH_PYSPY=<label>: py-spy samples every gunicorn worker through that point's first window (raw stacks)."""
    spy = shutil.which("py-spy") or str(ROOT / ".venv/bin/py-spy")
    out = workdir / ("pyspy-" + re.sub(r"[^a-z0-9]+", "-", label.lower()) + ".txt")
    print(f"  py-spy -> {out}", flush=True)
    return subprocess.Popen(
        [spy, "record", "--pid", str(master), "--subprocesses", "--format", "raw", "--nonblocking", "-r", "200",
         "-d", str(max(1, seconds - 1)), "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def login_script(workdir: Path, login: dict) -> Path:
    script = workdir / "login.lua"
    body = json.dumps(login).replace("\\", "\\\\").replace("'", "\\'")
    script.write_text(
        f"wrk.method = 'POST'\nwrk.body = '{body}'\nwrk.headers['Content-Type'] = 'application/json'\n", "utf-8"
    )
    return script


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def report(results: dict[str, list[dict]], floors: dict[str, list[dict]], header: str) -> None:
    print("\n" + header)
    cols = (
        f"{'endpoint (as the admin)':28} {'req/s':>7} {'p50':>7} {'p99':>7} {'non2xx':>6} {'err':>4} {'t/o':>4} "
        f"{'web':>6} {'PG':>5} {'RSS':>6} {'vs orig':>8} {'p99 orig':>8} {'vs floor':>8} {'CPU/floor':>9}"
    )
    print(cols)
    print(f"{'':28} {'':>7} {'ms':>7} {'ms':>7} {'':>6} {'':>4} {'':>4} {'ms/req':>6} {'ms/rq':>5} {'MB':>6}")
    medians = {}
    for label, runs in results.items():
        m = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99", "web_ms", "pg_ms")}
        m["rss"] = max(r["rss_mb"] for r in runs)
        medians[label] = m
        orig = ORIGINAL.get(label, {})
        floor = floors[label]
        vs_floor = statistics.median(r["rps"] / f["rps"] for r, f in zip(runs, floor, strict=True))
        cpu_floor = statistics.median(
            (r["web_ms"] + r["pg_ms"]) / max(1e-9, f["web_ms"] + f["pg_ms"]) for r, f in zip(runs, floor, strict=True)
        )
        print(
            f"{label:28} {m['rps']:7.0f} {m['p50']:7.1f} {m['p99']:7.1f} {sum(r['non2xx'] for r in runs):6d} "
            f"{sum(r['errors'] for r in runs):4d} {sum(r['timeouts'] for r in runs):4d} {m['web_ms']:6.2f} "
            f"{m['pg_ms']:5.2f} {m['rss']:6.0f} "
            f"{_fmt(m['rps'] / orig['rps'] if orig.get('rps') else None, '7.2f')}x "
            f"{_fmt(orig.get('p99'), '8.0f')} {vs_floor:7.2f}x {cpu_floor:8.2f}x"
        )
    small, large = medians.get("store list, 20 stores"), medians.get("store list, 10,000 stores")
    if small and large:
        print(
            f"flat in the data: list at 10,000 / list at 20 = {large['rps'] / small['rps']:.2f}x req/s (target >= 0.9)"
        )
    print(
        "medians over the rounds; vs orig: req/s over the original's (issue 20); vs floor: req/s over the floor's in "
        "the same round;\nCPU/floor: (web + PG) CPU per request over the floor's; RSS: peak of the largest gunicorn "
        "process (VmHWM)."
    )


def main() -> int:
    quick = os.environ.get("BENCH_QUICK") == "1"
    rounds = int(os.environ.get("BENCH_ROUNDS", "1" if quick else "3"))
    seconds = int(os.environ.get("BENCH_SECONDS", "5" if quick else "20"))
    profile = os.environ.get("BENCH_PYSPY", "")
    only = {s.strip() for s in os.environ.get("BENCH_ONLY", "").split(";") if s.strip()}
    wrk = ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="storeplane-bench-"))
    env = bench_env(workdir)
    _, database = bench_database()
    print(f"seeding {database} (20 stores)", flush=True)
    data = prepare(env)
    port = free_port()
    env["GUNICORN_BIND"] = f"127.0.0.1:{port}"
    web_log = open(workdir / "web.log", "w")  # noqa: SIM115  (open for the server's lifetime)
    web = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-c", "config/gunicorn.py", "config.wsgi:application"],
        env=env,
        cwd=ROOT,
        stdout=web_log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    postmaster = postmaster_pid()
    admin = data["admin_token"]
    floor = Point(FLOOR, "/bench/floor")
    phases = [
        ("20 stores", None, [Point("health/live", "/api/v1/health/live"),
                             Point("store list, 20 stores", "/api/v1/stores", admin)]),
        (
            "10,000 stores, 100,000 audit rows",
            "large",
            [
                Point("store list, 10,000 stores", "/api/v1/stores", admin),
                Point("store by id", f"/api/v1/stores/{data['store_id']}", admin),
                Point("audit, 100,000 rows", "/api/v1/audit", admin),
            ],
        ),
        ("logins", None, [Point("login", "/api/v1/auth/login", script=login_script(workdir, data["login"]))]),
    ]  # fmt: skip
    results: dict[str, list[dict]] = {}
    floors: dict[str, list[dict]] = {}
    try:
        wait_http(base + "/api/v1/health/live")
        for name, size, points in phases:
            if size:
                print(f"seeding {size}: {seed(env, size)}", flush=True)
            points = [p for p in points if not only or p.label in only]
            if not points:
                continue
            for point in [floor, *points]:  # warm-up: imports, connections, caches
                run_wrk(wrk, base, point, 2, {"web": CpuWatch(lambda: [web.pid, *children(web.pid)])})
                drain(base)
            for n in range(rounds):
                round_floor = None
                for point in [floor, *points]:
                    watches = {
                        "web": CpuWatch(lambda: [web.pid, *children(web.pid)]),
                        "pg": CpuWatch(lambda: pg_backends(postmaster, database)),
                    }
                    spy = (
                        profile_start(workdir, web.pid, point.label, seconds)
                        if profile == point.label and not n
                        else None
                    )
                    result = run_wrk(wrk, base, point, seconds, watches)
                    if spy:
                        spy.wait(timeout=60)
                    drain(base)
                    print(f"  {name} round {n + 1}: {point.label}: {result['rps']:.0f} req/s", flush=True)
                    if point is floor:
                        round_floor = result
                        results.setdefault(f"{FLOOR} ({name})", []).append(result)
                        floors.setdefault(f"{FLOOR} ({name})", []).append(result)
                    else:
                        results.setdefault(point.label, []).append(result)
                        floors.setdefault(point.label, []).append(round_floor)
    finally:
        stop(web)
        web_log.close()
    header = (
        f"gunicorn {env.get('GUNICORN_WORKERS', '2')} x {env.get('GUNICORN_THREADS', '4')} (config/gunicorn.py), "
        f"DEBUG off; wrk -t2 -c{CONNECTIONS}, {rounds} x {seconds} s per point on 127.0.0.1; {os.cpu_count()} CPUs "
        f"shared with wrk and PostgreSQL; load average {os.getloadavg()[0]:.1f}"
    )
    report(results, floors, header)
    print(f"\nlogs: {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
