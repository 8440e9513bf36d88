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
# recycle workers to bound memory growth; under load 2000 means a recycle every few seconds, and bench/api saw
# requests in flight during a recycle fail: raise it (GUNICORN_MAX_REQUESTS) where traffic is high
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = 200
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
