"""Fixtures of the browser tests: Debian's Chromium driven by Playwright (never a downloaded browser), a fresh
profile per test, a `Tab` that checks every page it loads (HTML5, console errors, CSP violations) and saves its
screenshot under artifacts/screenshots/, and `advance_store`, which moves a store's status without a worker."""

import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from provisioning.tests.celery_worker import start_worker, stop_worker
from scripts.localcluster.pytest_plugin import delete_namespace
from tests.browser.htmlcheck import html_problems

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls (fixtures, advance_store) are
# still plain synchronous code, so Django's async-safety guard must not refuse them.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Belt and braces: loopback is the only place this browser may reach (the live server, and stores at
    # <store id>.localhost:<port>, which Chromium resolves to 127.0.0.1 itself); no DNS for anything else, no
    # pings, no reporting.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE *.localhost, EXCLUDE 127.0.0.1",
    "--no-pings",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-default-apps",
    "--disable-extensions",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
# Recorded in the page before any script runs: CSP violations do not always reach the console.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        message = f"{CHROMIUM} is missing: run `bash scripts/ensure_browser.sh` (make test does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session")
def playwright_driver():
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@dataclass
class Tab:
    """One browser tab with its checks: `see(name)` asserts the page loaded so far is clean and screenshots it."""

    page: object
    base_url: str
    test_name: str
    console_errors: list[str] = field(default_factory=list)
    documents: list = field(default_factory=list)
    expected_statuses: set[int] = field(default_factory=set)
    checked: int = 0

    def go(self, path: str):
        return self.page.goto(self.base_url + path)

    def see(self, name: str) -> None:
        from playwright.sync_api import Error as PlaywrightError

        self.page.wait_for_load_state("load")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{self.test_name}--{name}.png"), full_page=True)
        problems = []
        for response in self.documents[self.checked :]:
            if response.status in (301, 302, 303, 304):
                continue
            if response.status >= 400 and response.status not in self.expected_statuses:
                problems.append(f"{response.url}: unexpected HTTP {response.status}")
            try:
                text = response.text()
            except PlaywrightError:  # Chromium drops a document's body once the tab navigates away
                problems.append(f"{response.url}: left before Tab.see() checked it (call see() on every page)")
                continue
            problems += [f"{response.url}: {p}" for p in html_problems(text)]
        self.checked = len(self.documents)
        violations = self.page.evaluate("window.__cspViolations || []")
        problems += [f"CSP violation: {v}" for v in violations]
        problems += [f"console: {e}" for e in self.console_errors]
        self.console_errors.clear()
        assert not problems, f"page {name!r} is not clean:\n" + "\n".join(problems)

    def expect_status(self, status: int) -> None:
        """An error page the test means to open (403, 404...): its status and Chrome's note about it are fine."""
        self.expected_statuses.add(status)


def _allowed_console_error(tab: Tab, text: str) -> bool:
    match = re.search(r"the server responded with a status of (\d{3})", text)
    return bool(match) and int(match.group(1)) in tab.expected_statuses


@pytest.fixture
def tab_factory(chromium_path, playwright_driver, live_server, tmp_path, request) -> Iterator[Callable[[], Tab]]:
    contexts = []

    def new_tab() -> Tab:
        profile = tmp_path / f"profile-{len(contexts)}"
        context = playwright_driver.chromium.launch_persistent_context(
            user_data_dir=str(profile),
            executable_path=chromium_path,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        contexts.append((context, profile))
        context.add_init_script(CSP_LISTENER)
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(15_000)
        tab = Tab(page=page, base_url=live_server.url, test_name=f"{request.node.name}-{len(contexts)}")

        def on_console(message) -> None:
            if message.type == "error" and not _allowed_console_error(tab, message.text):
                tab.console_errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda exc: tab.console_errors.append(f"uncaught: {exc}"))

        def on_response(response) -> None:
            if response.request.resource_type == "document":
                tab.documents.append(response)
            elif response.status >= 400:
                tab.console_errors.append(f"HTTP {response.status} for {response.url}")

        page.on("response", on_response)
        return tab

    yield new_tab
    for context, profile in contexts:
        context.close()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def tab(tab_factory) -> Tab:
    return tab_factory()


@pytest.fixture
def advance_store() -> Callable[..., None]:
    """Moves a store to its next status the way the provisioning worker would, through the stores services: for
    pages about one status (a failure and its reason, the operator's retry), where making the real worker fail on
    cue would cost minutes. The full walk (test_tenant_signs_up...) runs the real worker on the local cluster."""
    from stores import services
    from stores.models import Store

    def advance(store_id: str, target: str, *, reason: str = "helm install timed out") -> None:
        if target == "provisioning":
            services.store_start_provisioning(store_id=store_id)
        elif target == "ready":
            store = Store.objects.get(pk=store_id)
            services.store_mark_ready(
                store_id=store_id,
                storefront_url=f"http://{store.name}.localhost",
                admin_url=f"http://{store.name}.localhost/wp-admin",
                admin_credentials={
                    "email": store.owner.email,
                    "username": "admin",
                    "password": (store.admin_credentials or {}).get("password") or secrets.token_urlsafe(12),
                },
            )
        elif target == "failed":
            services.store_mark_failed(store_id=store_id, reason=reason)
        elif target == "deleted":
            services.store_mark_deleted(store_id=store_id)
        else:
            raise ValueError(f"advance_store cannot move a store to {target!r}")

    return advance


@pytest.fixture
def worker_on_cluster(k8s_cluster):
    """The real provisioning worker (a separate Celery process) on the local cluster; afterwards, whatever a failed
    walk left behind (releases, namespaces of this test's stores) is removed."""
    from stores.models import Store

    worker = start_worker(k8s_cluster, concurrency=2)
    yield k8s_cluster
    stop_worker(worker)
    for store_id in Store.objects.values_list("id", flat=True):
        k8s_cluster.helm_run("uninstall", store_id, "-n", store_id, "--wait", "--timeout", "60s", check=False)
        delete_namespace(k8s_cluster, store_id)
