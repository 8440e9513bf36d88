"""API cost without the HTTP server: CPU per request through Django's whole WSGI stack (every middleware, DRF, the
JWT, the queries, the renderer), called in this process for the same floor views and endpoints as bench.api.run.
Steadier than wrk on a shared machine and it leaves gunicorn out, so it says where an endpoint's time goes.

    .venv/bin/python -m bench.api.inprocess [--requests 3000] [--only LABEL] [--profile STORE|LABEL [--sort cumulative]]

Needs PostgreSQL and Redis (make services); seeds the same database as bench.api.run (both data sizes, in turn)."""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from bench.api.run import bench_env, prepare, seed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="requests per target (after 300 to warm up)")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per target; the median is printed")
    parser.add_argument("--profile", help="also print the top functions of one target (a label below, or STORE)")
    parser.add_argument("--sort", default="tottime", help="--profile's order: tottime (own time) or cumulative")
    parser.add_argument("--top", type=int, default=30, help="how many functions --profile prints")
    parser.add_argument("--only", help="measure only this target (a label below) and the floor")
    args = parser.parse_args()

    env = bench_env(Path(tempfile.mkdtemp(prefix="storeplane-bench-")))
    prepared = prepare(env)
    token = prepared["admin_token"]
    os.environ.update(env)

    import warnings

    import django

    warnings.filterwarnings("ignore", "No directory at", UserWarning)  # whitenoise: no collectstatic for a bench
    django.setup()
    import logging

    from django.core.handlers.wsgi import WSGIHandler

    devnull = open(os.devnull, "w")  # noqa: SIM115  (for the run's lifetime)
    for log_handler in logging.getLogger().handlers:  # the access log is formatted as in production, then dropped
        if isinstance(log_handler, logging.StreamHandler):
            log_handler.setStream(devnull)

    handler = WSGIHandler()

    login = json.dumps(prepared["login"]).encode()

    def call(path: str, bearer: str | None) -> None:
        route, _, query = path.partition("?")
        body = login if route == "/api/v1/auth/login" else b""  # the one POST: a login with the seeded user
        environ = {
            "REQUEST_METHOD": "POST" if body else "GET",
            "PATH_INFO": route,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1:8000",
            "wsgi.input": io.BytesIO(body),
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
        }
        if bearer:
            environ["HTTP_AUTHORIZATION"] = f"Bearer {bearer}"
        status: list[str] = []
        b"".join(handler(environ, lambda s, _headers, *_: status.append(s)))
        if not status[0].startswith("200"):
            raise SystemExit(f"{path}: {status[0]}")

    store = f"/api/v1/stores/{prepared['store_id']}"
    phases = [
        (None, [("floor: bare Django view", "/bench/floor", None), ("health/live", "/api/v1/health/live", None),
                ("store list, 20 stores", "/api/v1/stores", token)]),
        ("large", [("floor: bare Django view ", "/bench/floor", None),
                   ("store list, 10,000 stores", "/api/v1/stores", token), ("store by id", store, token),
                   ("audit, 100,000 rows", "/api/v1/audit", token)]),
        (None, [("login", "/api/v1/auth/login", None)]),
    ]  # fmt: skip
    targets = [t for _, ts in phases for t in ts]
    wanted = store if args.profile == "STORE" else args.profile
    profiled = [(p, b) for label, p, b in targets if wanted in (label, p)]
    if args.profile and not profiled:
        raise SystemExit(f"--profile: no target {args.profile!r}; one of: STORE, " + ", ".join(t[0] for t in targets))
    results: dict[str, float] = {}
    for size, phase in phases:
        if size:
            seed(env, size)
        for label, path, bearer in phase:
            if args.only and label not in (targets[0][0], args.only):
                continue
            slow = label == "login"  # ~50 ms each: a twentieth as many
            count = max(20, args.requests // 20) if slow else args.requests
            for _ in range(15 if slow else 300):
                call(path, bearer)
            rounds = []
            for _ in range(args.rounds):
                started = time.process_time()
                for _ in range(count):
                    call(path, bearer)
                rounds.append((time.process_time() - started) * 1000 / count)
            results[label] = (sorted(rounds)[len(rounds) // 2], min(rounds))

    bare = results[targets[0][0]][0]
    print(f"\n{'in process, no HTTP server':32} {'CPU ms/req':>10} {'(least)':>8} {'vs bare floor':>14}")
    for label, (ms, least) in results.items():
        print(f"{label:32} {ms:10.3f} {least:8.3f} {ms / bare:13.2f}x")
    print(f"medians (and least) of {args.rounds} rounds of {args.requests} requests; CPU time of this process only "
          "(PostgreSQL and Redis not counted)")  # fmt: skip

    if args.profile:
        path, bearer = profiled[0]
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for _ in range(max(20, args.requests // 20) if path.endswith("/login") else args.requests):
            call(path, bearer)
        profiler.disable()
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
