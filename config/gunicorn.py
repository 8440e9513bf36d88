"""gunicorn settings for production: request timeouts at the server, graceful drain, logs to stdout."""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))  # a stuck request is killed, never held forever
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))  # in-flight requests drain on SIGTERM
keepalive = 5
limit_request_line = 8190
limit_request_fields = 100
# Recycling a worker (max_requests) costs a Python and Django start (about a second of CPU) while its peers carry
# the load: at 20,000 it came every 10-60 s under load and showed in p99. Memory is bounded without it (bench/api:
# workers stay flat through every endpoint, logins included), so it is a seldom safety net: one worker in ~1M
# requests, spread by the jitter so two workers never recycle together.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "1000000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", str(max_requests // 10)))
accesslog = None  # request logs come from the app's JSON logger
errorlog = "-"


# Prometheus multiprocess mode: the directory is emptied once when the master starts (before any worker writes),
# and a worker that exits has its live gauges dropped, so a scrape sums what live and past workers counted.
# Where web and worker share the directory but start independently (compose, one pod with two containers), set
# PROMETHEUS_MULTIPROC_RESET=false and empty it before both start instead: a worker's files removed under it are lost.
def on_starting(server):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR") and os.environ.get("PROMETHEUS_MULTIPROC_RESET", "true") == "true":
        import shutil
        from pathlib import Path

        target = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
        if target.is_dir():
            shutil.rmtree(target)
        target.mkdir(parents=True, exist_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# A login's Argon2 hash takes 7 MiB (accounts.hashers). glibc serves a block that large with mmap and returns it on
# free, but after the first such free it raises its mmap threshold to that size, so later blocks come from each
# thread's arena and stay resident: every thread that ever hashed kept its block (bench/api, at 19 MiB a hash: a
# worker at 201 MB after a login burst, with two hashes at once at most). A fixed threshold keeps large blocks on
# mmap, returned at once.
M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)


def post_fork(server, worker):
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024)
    except (OSError, AttributeError):  # not glibc (musl, macOS): their allocators do not keep such blocks this way
        pass
