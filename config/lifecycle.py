"""Process lifecycle: the drain flag that readiness reports while a web process shuts down."""

import signal
import threading
import time

_draining = threading.Event()
STARTED_AT = time.monotonic()


def is_draining() -> bool:
    return _draining.is_set()


def start_draining() -> None:
    _draining.set()


def install_drain_handler() -> None:
    """On SIGTERM mark the process as draining, then hand over to the server's own handler (gunicorn's graceful
    stop), so load balancers see /health/ready go 503 while in-flight requests finish."""
    try:
        previous = signal.getsignal(signal.SIGTERM)
    except ValueError:  # not in the main thread (e.g. under a test client): nothing to chain to
        return

    def _on_sigterm(signum, frame):
        start_draining()
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            raise SystemExit(0)

    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:
        return
