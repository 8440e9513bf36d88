"""The storefront image and its SPA: nginx as uid 101 on a read-only root serves index.html (also for every SPA path),
hashed assets with year-long caching, /healthz, and /config.json written from the environment; nothing it ships
loads from another origin. Also runs the SPA's own unit tests (vitest) from storefront/.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from scripts.localcluster.images import build

# Our podman settings (tests/images/containers.conf), as the shared fixtures pass them.
PODMAN_ENV = {**os.environ, "CONTAINERS_CONF": str(Path(__file__).with_name("containers.conf"))}

REPO = Path(__file__).resolve().parents[2]
STOREFRONT = REPO / "storefront"
HTML_ROOT = "usr/share/storefront/html/"
KEY = "pk_" + hashlib.sha256(b"storefront test").hexdigest()
# A name with quotes, a backslash and non-ASCII proves the entrypoint JSON-encodes it.
STORE_NAME = 'Ada\'s "Corner" Shop \\ Café'

# Absolute URLs that do occur in the built bundle and are never fetched, each with the reason.
ALLOWED_URLS = {
    # XML namespace names react-dom gives SVG/MathML elements: identifiers, not resources.
    "http://www.w3.org/1998/Math/MathML",
    "http://www.w3.org/1999/xhtml",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/XML/1998/namespace",
    # Text of React's and uuid's production error messages (a link a developer may open), never requested.
    "https://reactjs.org/docs/error-decoder.html?invariant=",
    "https://github.com/uuidjs/uuid#getrandomvalues-not-supported",
    # medusa-js's default baseUrl; src/client.js always replaces it with the page's own origin.
    "http://localhost:9000",
}
URL_RE = re.compile(r"""https?://[^\s"'`()<>\\]+""")

# One HTTP/1.0 request on the pod's loopback with bash's /dev/tcp (the image ships no HTTP client): prints the
# response as it came, headers and body.
HTTP = r"""
exec 3<>/dev/tcp/127.0.0.1/8080 || exit 7
printf 'GET %s HTTP/1.0\r\nHost: shop.localhost\r\n\r\n' "$1" >&3
cat <&3
"""


class Response:
    def __init__(self, raw: str):
        head, _, self.body = raw.partition("\r\n\r\n")
        lines = head.split("\r\n")
        self.status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
        self.headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()


def _get(container: str, path: str) -> Response:
    # Bytes, not text: text mode would turn the response's CRLFs into newlines.
    proc = subprocess.run(
        [*build.PODMAN, "exec", container, "bash", "-c", HTTP, "http", path],
        capture_output=True,
        timeout=30,
        check=False,
        env=PODMAN_ENV,
    )
    return Response(proc.stdout.decode("utf-8", errors="replace"))


@pytest.fixture(scope="module")
def storefront_build(image_cache_dir: Path) -> build.BuildResult:
    """The storefront image alone (it depends on no other image; seconds when cached)."""
    build.ensure_host_tools(image_cache_dir / "logs" / "host-tools.log")
    (result,) = build.build_images(image_cache_dir, ["storefront"])
    return result


@pytest.fixture(scope="module")
def storefront_ref(storefront_build: build.BuildResult) -> str:
    subprocess.run(
        [*build.PODMAN, "load", "-q", "-i", str(storefront_build.archive)],
        capture_output=True,
        timeout=300,
        check=True,
        env=PODMAN_ENV,
    )
    return storefront_build.ref


def _start(pod, ref: str, name: str, env: dict[str, str]) -> str:
    """The container as the chart runs it: read-only root, only /tmp writable (the chart's emptyDir), no network."""
    container = f"{pod.name}-{name}"
    args = ["run", "-d", "--pod", pod.name, "--name", container, "--read-only", "--read-only-tmpfs=false"]
    container_tmp = "/tmp:rw,mode=1777,size=16m"  # noqa: S108 (the container's /tmp, not the host's)
    args += ["--tmpfs", container_tmp, *build.PODMAN_RUN_LIMITS]
    for key in env:
        args += ["-e", key]
    proc = subprocess.run(
        [*build.PODMAN, *args, ref],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**PODMAN_ENV, **env},
    )
    assert proc.returncode == 0, proc.stderr
    pod.containers.append(container)
    return container


@pytest.mark.images
def test_storefront_serves_the_spa_and_the_runtime_config_as_non_root(storefront_ref, pod):
    sf = _start(pod, storefront_ref, "sf", {"MEDUSA_PUBLISHABLE_KEY": KEY, "STORE_NAME": STORE_NAME})
    pod.wait_for(sf, lambda: _get(sf, "/healthz").status == 200, "storefront /healthz 200", timeout=60)
    assert _get(sf, "/healthz").body == "ok\n"

    index = _get(sf, "/")
    assert index.status == 200
    assert index.headers["content-type"].startswith("text/html")
    assert index.headers["cache-control"] == "no-cache"
    assert '<div id="root">' in index.body
    assert "default-src 'self'" in index.headers["content-security-policy"]
    assert index.headers["x-content-type-options"] == "nosniff"
    assert "nginx/" not in index.headers.get("server", "")

    # Every page of the SPA is index.html (a reload or a shared link on /products/... must not 404).
    for path in ("/products/medusa-t-shirt", "/cart", "/checkout", "/order/order_01ABC"):
        page = _get(sf, path)
        assert (page.status, page.body) == (200, index.body), path

    config = _get(sf, "/config.json")
    assert config.status == 200
    assert config.headers["content-type"] == "application/json"
    assert config.headers["cache-control"] == "no-store"
    assert json.loads(config.body) == {"publishableKey": KEY, "storeName": STORE_NAME}

    scripts = re.findall(r'src="(/assets/[^"]+\.js)"', index.body)
    styles = re.findall(r'href="(/assets/[^"]+\.css)"', index.body)
    assert scripts and styles
    for path in scripts + styles:
        asset = _get(sf, path)
        assert asset.status == 200, path
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable", path
    assert _get(sf, scripts[0]).headers["content-type"] == "application/javascript"
    # A missing asset is a 404, not index.html served as JavaScript.
    missing = _get(sf, "/assets/index-missing.js")
    assert missing.status == 404 and '<div id="root">' not in missing.body

    # Every process of the container (nginx master and worker, and this exec) runs as uid 101.
    uids = pod.exec(sf, "bash", "-c", "cat /proc/[0-9]*/status | awk '/^Uid:/ {print $2}' | sort -u").stdout.split()
    assert uids == ["101"]
    assert pod.exec(sf, "touch", "/usr/share/storefront/html/x").returncode != 0  # the root is read-only


@pytest.mark.images
def test_storefront_without_a_key_sends_none_and_refuses_a_malformed_one(storefront_ref, pod):
    ref = storefront_ref
    sf = _start(pod, ref, "nokey", {})
    pod.wait_for(sf, lambda: _get(sf, "/healthz").status == 200, "storefront /healthz 200", timeout=60)
    assert json.loads(_get(sf, "/config.json").body) == {"publishableKey": None, "storeName": ""}
    assert "MEDUSA_PUBLISHABLE_KEY is not set" in pod.logs(sf)
    pod.remove(sf)

    bad = _start(pod, ref, "badkey", {"MEDUSA_PUBLISHABLE_KEY": "sk_not-a-publishable-key"})
    assert pod.wait_exit(bad) == 1
    log = pod.logs(bad)
    assert "MEDUSA_PUBLISHABLE_KEY must be a Medusa publishable API key" in log
    assert "sk_not-a-publishable-key" not in log


def _image_files(archive: Path, prefix: str) -> dict[str, bytes]:
    """Files under prefix in a docker-archive's layers (the image is one layer), read without running it."""
    files: dict[str, bytes] = {}
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        for layer_name in manifest[0]["Layers"]:
            with tarfile.open(fileobj=io.BytesIO(outer.extractfile(layer_name).read())) as layer:
                for member in layer.getmembers():
                    name = member.name.removeprefix("./")
                    if member.isfile() and name.startswith(prefix):
                        files[name[len(prefix) :]] = layer.extractfile(member).read()
    return files


@pytest.mark.images
def test_built_assets_load_nothing_from_another_origin(storefront_build):
    files = _image_files(storefront_build.archive, HTML_ROOT)
    assert "index.html" in files and any(name.endswith(".js") for name in files)
    index = files["index.html"].decode()
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", index)
    assert refs
    for ref in refs:
        assert ref.startswith("data:") or (ref.startswith("/") and not ref.startswith("//")), ref
    found: set[str] = set()
    for name, content in files.items():
        text = content.decode("utf-8", errors="replace")
        if name.endswith(".css"):
            assert "@import" not in text, name
            for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", text):
                assert url.startswith("data:") or (url.startswith("/") and not url.startswith("//")), (name, url)
        found |= set(URL_RE.findall(text))
    assert found - ALLOWED_URLS == set()


def test_spa_sources_name_no_other_origin():
    """Our own code has no absolute URL at all: the API, images and assets are all on the store's host."""
    offenders = []
    for path in sorted((STOREFRONT / "src").rglob("*")):
        if path.is_file() and URL_RE.search(path.read_text()):
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
    lock = json.loads((STOREFRONT / "package-lock.json").read_text())
    package = json.loads((STOREFRONT / "package.json").read_text())
    for deps in (package["dependencies"], package["devDependencies"]):
        assert all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in deps.values()), deps  # exact pins only
    assert lock["packages"]["node_modules/@medusajs/medusa-js"]["version"] == "6.1.10"
    # medusa-js's peer dependency on the whole Medusa backend is for types only and is not installed.
    assert "node_modules/@medusajs/medusa" not in lock["packages"]


def test_spa_unit_tests_pass():
    """vitest over the checkout logic (storefront/tests), in a copy with `npm ci` of the lockfile; reused while the
    lockfile is unchanged, and run with the registry switched off (the tests need no network)."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed on this machine")
    lock = (STOREFRONT / "package-lock.json").read_bytes()
    work = Path(os.environ.get("STOREPLANE_STOREFRONT_TEST_DIR", Path.home() / ".cache/storeplane/storefront-test"))
    stamp = work / ".lock-sha256"
    digest = hashlib.sha256(lock).hexdigest()
    for name in ("src", "tests"):
        shutil.rmtree(work / name, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json", ".npmrc", "index.html", "vite.config.js"):
        shutil.copy2(STOREFRONT / name, work / name)
    for name in ("src", "tests"):
        shutil.copytree(STOREFRONT / name, work / name)
    env = {k: v for k, v in os.environ.items() if k != "NODE_ENV"}
    if not stamp.exists() or stamp.read_text() != digest or not (work / "node_modules").is_dir():
        cache = Path.home() / ".cache/storeplane/images/npm-cache"
        proc = subprocess.run(
            [npm, "ci", "--include=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--cache", str(cache)],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env=env,
        )
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        stamp.write_text(digest)
    # An unreachable registry proves the run needs none.
    proc = subprocess.run(
        [npm, "test", "--offline", "--registry", "http://127.0.0.1:9/"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**env, "CI": "true", "NO_COLOR": "1"},
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    match = re.search(r"Tests\s+(\d+) passed", out)
    assert match and int(match.group(1)) >= 10, out[-2000:]
