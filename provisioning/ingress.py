"""Is the store served? Its Ingress must carry the controller's address (the controller publishes it in
status.loadBalancer once it has taken the Ingress), and a request to the controller with the store's Host header
must answer 200 — what a shopper's browser does. Both waits are bounded; running out of time is retryable."""

import http.client
import json
import time

from django.conf import settings

from provisioning import kubectl, runner
from provisioning.errors import ProvisioningError
from stores.models import Engine

POLL_SECONDS = 1.0
REQUEST_TIMEOUT_SECONDS = 10.0


class StoreNotServed(ProvisioningError):
    code = "STORE_NOT_SERVED"
    retryable = True


def wait_for_address(namespace: str, timeout: float) -> str:
    """The store's host, once the controller has published its address on the store's Ingress."""
    deadline = time.monotonic() + timeout
    while True:
        hosts = [state for state in kubectl.get_ingresses(namespace) if state.hosts]
        if not hosts:
            # The chart renders one with the store's host: none means the release is not what it should be.
            raise StoreNotServed(f"The store has no Ingress with a host in namespace {namespace}.", retryable=False)
        published = [state for state in hosts if state.addresses]
        if published:
            return published[0].hosts[0]
        if time.monotonic() >= deadline:
            raise StoreNotServed(
                f"No ingress controller took the store's Ingress within {int(timeout)} seconds "
                "(its status has no address). Is the ingress controller running?"
            )
        _still_ours()
        time.sleep(POLL_SECONDS)


def _still_ours() -> None:
    """These waits start no process, so they ask the chain's ownership check themselves (as the runner does while a
    command runs): a store force-deleted meanwhile stops the wait at once (Superseded)."""
    check = runner.owner_check.get()
    if check is not None:
        check()


def host_header(host: str) -> str:
    port = settings.STORE_INGRESS_PORT
    return host if port in (80, 443, 0) else f"{host}:{port}"


def get_through_ingress(host: str, path: str = "/") -> tuple[int, str, bytes]:
    """(status, content type, body) of GET path sent to the ingress controller with the store's Host header, as a
    browser resolving <store>.localhost to 127.0.0.1 would send it. Plain HTTP; redirects are not followed (a
    controller that only redirects to TLS is not "served" to this check: point STORE_INGRESS_PORT at its HTTP port)."""
    connection = http.client.HTTPConnection(
        settings.STORE_INGRESS_ADDRESS, settings.STORE_INGRESS_PORT, timeout=REQUEST_TIMEOUT_SECONDS
    )
    try:
        connection.request("GET", path, headers={"Host": host_header(host), "User-Agent": "storeplane-ready-check"})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


# What a shopper needs answered, per engine: the storefront, and for Medusa its store API too (a JSON answer: while
# Medusa has no ready pod the controller sends /store/* to the storefront, whose SPA fallback answers 200 in HTML).
SERVED_CHECKS: dict[str, tuple[tuple[str, bool], ...]] = {
    Engine.WOOCOMMERCE: (("/", False),),
    Engine.MEDUSA: (("/", False), ("/store/regions", True)),
}


def _answer(host: str, path: str, want_json: bool) -> str | None:
    """None when the path is served as it should be, else what it answered."""
    try:
        status, content_type, body = get_through_ingress(host, path)
    except (OSError, http.client.HTTPException) as error:
        return type(error).__name__
    if status != 200:
        return f"HTTP {status}"
    if want_json:
        try:
            json.loads(body)
        except ValueError:
            return f"HTTP 200 with {content_type or 'no content type'}, not JSON"
    return None


def wait_until_served(engine: str, host: str, timeout: float) -> int:
    """Waits until every check of the engine answers; returns the number of rounds it took, or raises
    StoreNotServed naming the path and its last answer when time runs out."""
    deadline = time.monotonic() + timeout
    rounds = 0
    while True:
        rounds += 1
        failing = [
            (path, answer) for path, want_json in SERVED_CHECKS[engine] if (answer := _answer(host, path, want_json))
        ]
        if not failing:
            return rounds
        if time.monotonic() >= deadline:
            path, answer = failing[0]
            raise StoreNotServed(
                f"The store was not served at {settings.STORE_URL_SCHEME}://{host_header(host)}{path} "
                f"within {int(timeout)} seconds (last answer: {answer})."
            )
        _still_ours()
        time.sleep(POLL_SECONDS)
