"""A store's own pages as a shopper's browser sees them: opened from the tenant's page (a new tab), reached through
the local ingress controller at http://<store id>.localhost:<port>, each page screenshotted, with no console error
and no request to any host off this machine. And the same store's APIs from Python, through the same controller
with the store's Host header (Python cannot resolve *.localhost; the controller routes on the Host header)."""

import http.client
import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings

from tests.browser.conftest import SCREENSHOTS

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in LOOPBACK_HOSTS or host.endswith(".localhost") or url.startswith(("data:", "blob:", "about:"))


@dataclass
class ShopTab:
    """A tab on a store's own pages (WordPress or the Medusa storefront: not our HTML, so only what a shopper
    would notice is checked): no failed request, no console error, nothing fetched from off the machine."""

    page: object
    test_name: str
    problems: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)
    allowed_statuses: set[int] = field(default_factory=set)

    @classmethod
    def attach(cls, page, test_name: str) -> "ShopTab":
        tab = cls(page=page, test_name=test_name)
        page.set_default_timeout(20_000)

        def on_request(request) -> None:
            tab.requested.append(request.url)
            if not is_loopback(request.url):
                tab.problems.append(f"request off the machine: {request.url}")

        def on_response(response) -> None:
            if response.status >= 400 and response.status not in tab.allowed_statuses:
                tab.problems.append(f"HTTP {response.status} for {response.url}")

        page.on("request", on_request)
        page.on("response", on_response)

        def on_console(message) -> None:
            expected = any(f"status of {code}" in message.text for code in tab.allowed_statuses)
            if message.type == "error" and not expected:
                tab.problems.append(f"console: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: tab.problems.append(f"uncaught: {exc}"))
        return tab

    def see(self, name: str) -> None:
        self.page.wait_for_load_state("load")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{self.test_name}--{name}.png"), full_page=True)
        problems, self.problems = self.problems, []
        assert not problems, f"store page {name!r}:\n" + "\n".join(problems)


def open_from_store_page(page, link_name: str, test_name: str, *, allowed_statuses=()) -> ShopTab:
    """Clicks a link of the tenant's store page that opens the store in a new tab, as a person would;
    `allowed_statuses` are answers the store's own pages are expected to get while they load."""
    with page.context.expect_page() as opened:
        page.get_by_role("link", name=link_name, exact=True).click()
    shop = opened.value
    tab = ShopTab.attach(shop, test_name)
    tab.allowed_statuses.update(allowed_statuses)
    shop.wait_for_load_state("load")
    return tab


def through_ingress(url: str, path: str, *, method: str = "GET", body=None, headers=None) -> tuple[int, dict, str]:
    """(status, headers, text) of one request to the ingress controller on loopback with the Host of `url`."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(settings.STORE_INGRESS_ADDRESS, settings.STORE_INGRESS_PORT, timeout=30)
    payload = json.dumps(body).encode() if body is not None else None
    all_headers = {"Host": parts.netloc, **({"Content-Type": "application/json"} if payload else {}), **(headers or {})}
    try:
        connection.request(method, path, body=payload, headers=all_headers)
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, text
    finally:
        connection.close()
