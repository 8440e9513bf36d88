"""Builds the local store images from Debian and npm packages (no image registry is reachable here).

Each image is a debootstrap'ed bookworm rootfs with packages installed in a chroot, plus the files under
`<image>/rootfs/` and the `<image>/setup.sh` hook, imported with podman and saved as a docker-archive tarball.
Every image is cached by a content hash of its inputs; see docs/local-images.md for the method and measurements.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import inspect
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..util import progress

log = logging.getLogger("storeplane.images")


def _say(message: str) -> None:
    """Progress of a long build on stderr, where `make run` and `make images` show it."""
    print(f"[images {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


HERE = Path(__file__).resolve().parent
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "storeplane" / "images"

# podman must use runc (crun is not installed here) and explicit ulimits: root lacks CAP_SYS_RESOURCE on these
# machines, so podman's default of raising the limits fails when it starts a container.
PODMAN = ("podman", "--runtime", "runc")
PODMAN_RUN_LIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096")

# Host commands the build needs, and the Debian package that provides each (catatonit: podman's pod infra
# container, which the image tests use).
HOST_TOOLS = {
    "debootstrap": "debootstrap",
    "podman": "podman",
    "runc": "runc",
    "dpkg-deb": "dpkg",
    "catatonit": "catatonit",
}

# Steps the command timeouts must cover on a slow mirror; generous because a cold build downloads ~300 MB.
APT_TIMEOUT = 900
NPM_TIMEOUT = 900


class ImageBuildError(RuntimeError):
    """A build step failed; the message names the step and carries the tail of its log (never a secret)."""


@dataclass(frozen=True)
class ImageSpec:
    """What goes into one image: Debian packages, users created before them, and the image config."""

    name: str
    packages: tuple[str, ...]
    user: str
    expose: tuple[int, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    workdir: str = "/"
    env: tuple[tuple[str, str], ...] = ()
    # (name, uid, home, shell) created with uid == gid before any package postinst can pick an id.
    users: tuple[tuple[str, int, str, str], ...] = ()
    from_base: bool = True

    @property
    def ref(self) -> str:
        return f"storeplane.local/{self.name}:local"

    @property
    def asset_dir(self) -> Path:
        return HERE / self.name


PATH_DEFAULT = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

IMAGES: dict[str, ImageSpec] = {
    spec.name: spec
    for spec in (
        ImageSpec(
            name="toolbox",
            packages=("busybox-static",),
            user="65534:65534",
            cmd=("sh",),
            env=(("PATH", "/bin"),),
            from_base=False,
        ),
        ImageSpec(
            name="mariadb",
            packages=("mariadb-server",),
            user="999:999",
            expose=(3306,),
            entrypoint=("/usr/local/bin/storeplane-entrypoint",),
            cmd=("mariadbd",),
            users=(("mysql", 999, "/var/lib/mysql", "/usr/sbin/nologin"),),
        ),
        ImageSpec(
            name="postgres",
            packages=("postgresql-15",),
            user="999:999",
            expose=(5432,),
            entrypoint=("/usr/local/bin/storeplane-entrypoint",),
            cmd=("postgres",),
            env=(
                ("PATH", "/usr/lib/postgresql/15/bin:" + PATH_DEFAULT),
                ("PGDATA", "/var/lib/postgresql/data/pgdata"),
                ("LANG", "C.UTF-8"),
            ),
            users=(("postgres", 999, "/var/lib/postgresql", "/bin/sh"),),
        ),
        ImageSpec(
            name="wordpress",
            packages=(
                "apache2",
                "libapache2-mod-php",
                "php-cli",
                "php-mysql",
                "php-curl",
                "php-xml",
                "php-mbstring",
                "php-intl",
                "php-zip",
                "php-bcmath",
                "wordpress",
                "wordpress-theme-twentytwentythree",
            ),
            user="33:33",
            expose=(8080,),
            entrypoint=("/usr/local/bin/storeplane-entrypoint",),
            cmd=("apache2-foreground",),
            workdir="/usr/share/wordpress",
        ),
        ImageSpec(
            name="medusa",
            packages=("nodejs", "ca-certificates"),
            user="1000:1000",
            expose=(9000,),
            entrypoint=("/usr/local/bin/storeplane-entrypoint",),
            cmd=("medusa", "start"),
            workdir="/app",
            env=(
                ("PATH", "/app/node_modules/.bin:" + PATH_DEFAULT),
                ("NODE_ENV", "production"),
                ("MEDUSA_DISABLE_TELEMETRY", "true"),
                ("HOME", "/app"),
            ),
            users=(("node", 1000, "/app", "/bin/sh"),),
        ),
        # The platform (web, worker, beat, migrations; redis-server for a demo's bundled Redis): Debian's Python 3.11,
        # the pinned PyPI wheels in /opt/venv, helm, kubectl, the app and the store chart in /app, as in the Dockerfile;
        # its sources, wheels and binaries are staged into platform/rootfs by scripts.localcluster.platformctl.
        ImageSpec(
            name="platform",
            packages=("python3", "python3-venv", "redis-server"),
            user="10001:10001",
            expose=(8000,),
            entrypoint=("/usr/local/bin/storeplane-entrypoint",),
            cmd=("gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"),
            workdir="/app",
            env=(
                ("PATH", "/opt/venv/bin:" + PATH_DEFAULT),
                ("PYTHONDONTWRITEBYTECODE", "1"),
                ("PYTHONUNBUFFERED", "1"),
                ("LANG", "C.UTF-8"),
                ("HOME", "/tmp"),  # noqa: S108 - the pod's emptyDir (the root filesystem is read-only)
            ),
            users=(("storeplane", 10001, "/app", "/usr/sbin/nologin"),),
        ),
        ImageSpec(
            name="storefront",
            packages=("nginx", "jq"),
            user="101:101",
            expose=(8080,),
            entrypoint=("/usr/local/bin/storeplane-entrypoint",),
            cmd=("nginx", "-e", "stderr"),
            users=(("storefront", 101, "/nonexistent", "/usr/sbin/nologin"),),
        ),
    )
}


# ----------------------------------------------------------------------------------------------------- processes


def _run(
    argv: Sequence[str],
    step: str,
    logfile: Path,
    *,
    timeout: int = 600,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    cwd: Path | None = None,
) -> str:
    """Runs argv, appending its output to logfile; raises ImageBuildError with the log tail when it fails."""
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with logfile.open("a") as out:
        out.write(f"\n$ [{time.strftime('%H:%M:%S')}] {' '.join(argv)}\n")
        out.flush()
        started = time.monotonic()
        try:
            proc = subprocess.run(
                list(argv),
                input=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
                env=env,
                cwd=cwd,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ImageBuildError(f"{step}: timed out after {timeout}s (log: {logfile})") from exc
        out.write(proc.stdout)
        out.write(f"\n# exit {proc.returncode} after {time.monotonic() - started:.1f}s\n")
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-25:])
        raise ImageBuildError(f"{step}: exit {proc.returncode} (log: {logfile})\n{tail}")
    return proc.stdout


def _chroot(rootfs: Path, script: str, step: str, logfile: Path, *, timeout: int = APT_TIMEOUT) -> str:
    """Runs a shell script inside the chroot with a clean, non-interactive environment."""
    env = {
        "PATH": PATH_DEFAULT,
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "DEBIAN_FRONTEND": "noninteractive",
        "DEBCONF_NONINTERACTIVE_SEEN": "true",
    }
    # A proxy the host is told to use applies to the chroot's apt and npm too.
    for key in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        if key in os.environ:
            env[key] = os.environ[key]
    return _run(["chroot", str(rootfs), "/bin/sh", "-eu", "-c", script], step, logfile, timeout=timeout, env=env)


@contextlib.contextmanager
def _mounted(rootfs: Path, cache_dir: Path, logfile: Path) -> Iterator[None]:
    """Mounts /proc (for package scripts) and the shared apt caches in the chroot; always unmounts them, even when
    the build fails, so no mount outlives the build."""
    mounts: list[Path] = []
    try:
        proc_dir = rootfs / "proc"
        proc_dir.mkdir(exist_ok=True)
        _run(["mount", "-t", "proc", "proc", str(proc_dir)], "mount /proc", logfile)
        mounts.append(proc_dir)
        # Downloaded .debs and package lists are shared between image builds (under the build lock): a rebuild
        # downloads only what changed.
        for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shared = cache_dir / "apt" / Path(sub).name
            (shared / "partial").mkdir(parents=True, exist_ok=True)
            target = rootfs / sub
            target.mkdir(parents=True, exist_ok=True)
            _run(["mount", "--bind", str(shared), str(target)], f"bind-mount {sub}", logfile)
            mounts.append(target)
        yield
    finally:
        for target in reversed(mounts):
            if subprocess.run(["umount", str(target)], check=False, capture_output=True).returncode != 0:
                # A process left running in the chroot keeps it busy: detach it so nothing stays mounted.
                subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True)


def _apt_host(args: Sequence[str], logfile: Path, *, cwd: Path | None = None) -> None:
    """apt-get on the host, waiting for another engineer's apt run instead of failing on the lock."""
    argv = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=600", *args]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with logfile.open("a") as out:
        proc = subprocess.run(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, timeout=APT_TIMEOUT, check=False
        )
    if proc.returncode == 0:
        return
    # Stale package lists (a fresh or long-idle machine) are the usual cause: refresh once and retry.
    _run(
        ["apt-get", "-q", "-o", "DPkg::Lock::Timeout=600", "update"],
        "apt-get update (host)",
        logfile,
        timeout=APT_TIMEOUT,
    )
    _run(argv, f"apt-get {' '.join(args)} (host)", logfile, timeout=APT_TIMEOUT, env=env)


def ensure_host_tools(logfile: Path) -> None:
    """Installs debootstrap, podman and runc from Debian when missing (CI machines may lack them)."""
    missing = sorted({pkg for cmd, pkg in HOST_TOOLS.items() if shutil.which(cmd) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        raise ImageBuildError(f"building images needs root (chroot, mount) and the packages: {' '.join(missing)}")
    log.info("installing host packages: %s", " ".join(missing))
    _apt_host(["install", "--no-install-recommends", *missing], logfile)


# ---------------------------------------------------------------------------------------------------- hashing


def _hash_tree(digest: hashlib._Hash, root: Path) -> None:
    """Feeds every file under root (relative path, mode and content) into digest, in a stable order."""
    if not root.exists():
        return
    for path in sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        if "__pycache__" in rel:
            continue
        digest.update(rel.encode() + b"\0")
        if path.is_symlink():
            digest.update(b"link:" + os.readlink(path).encode())
        else:
            digest.update(oct(path.stat().st_mode & 0o777).encode())
            digest.update(path.read_bytes())
        digest.update(b"\0")


def base_key() -> str:
    """Hash of what makes the base rootfs: the suite, mirrors and the code that builds it."""
    digest = hashlib.sha256()
    digest.update(f"{SUITE}|{MIRROR}|{SECURITY_MIRROR}".encode())
    digest.update(inspect.getsource(_make_base).encode())
    return digest.hexdigest()


def _build_code() -> bytes:
    """This module's code as Python sees it (its syntax tree: comments and formatting change no image), without
    the IMAGES table: each image's own spec is hashed on its own, so changing one image's spec rebuilds only it."""
    tree = ast.parse(Path(__file__).read_text())
    tree.body = [
        node
        for node in tree.body
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "IMAGES")
    ]
    return ast.dump(tree).encode()


def image_key(spec: ImageSpec) -> str:
    """Hash of one image's inputs: its spec (packages, users, config), its asset files and this build code."""
    digest = hashlib.sha256()
    digest.update(repr(spec).encode())
    digest.update(_build_code())
    _hash_tree(digest, spec.asset_dir)
    if spec.name == "storefront":
        _hash_storefront_sources(digest)
    if spec.from_base:
        digest.update(base_key().encode())
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------------------- base

DPKG_EXCLUDES = """\
# Images carry no documentation: keep only the copyright files.
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/lintian/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
"""

APT_CONF = """\
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Retries "3";
"""


def _make_base(target: Path, logfile: Path) -> None:
    """debootstrap --variant=minbase plus the chroot config every image build relies on."""
    _run(["debootstrap", "--variant=minbase", SUITE, str(target), MIRROR], "debootstrap", logfile, timeout=APT_TIMEOUT)
    (target / "etc/apt/sources.list").write_text(
        f"deb {MIRROR} {SUITE} main\ndeb {MIRROR} {SUITE}-updates main\ndeb {SECURITY_MIRROR} {SUITE}-security main\n"
    )
    # Package postinst scripts must not start daemons in the chroot: invoke-rc.d asks policy-rc.d, 101 = "no".
    policy = target / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\n# No daemon starts while the image is being built.\nexit 101\n")
    policy.chmod(0o755)
    (target / "etc/dpkg/dpkg.cfg.d/storeplane-nodoc").write_text(DPKG_EXCLUDES)
    (target / "etc/apt/apt.conf.d/90storeplane").write_text(APT_CONF)
    _clean_apt(target)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _clean_apt(rootfs: Path) -> None:
    for sub in ("var/lib/apt/lists", "var/cache/apt", "var/cache/debconf", "var/log", "tmp", "var/tmp", "root"):
        for child in (rootfs / sub).glob("*"):
            if child.name in ("lock", "partial", "config.dat", "templates.dat", "passwords.dat"):
                continue
            _remove(child)
    for pattern in ("var/cache/debconf/*-old", "var/lib/dpkg/*-old"):
        for child in rootfs.glob(pattern):
            _remove(child)


def ensure_base(cache_dir: Path) -> Path:
    """Returns the cached minbase rootfs, building it on first use (about a minute)."""
    key = base_key()[:16]
    base = cache_dir / f"base-{SUITE}-{key}"
    if (base / ".complete").exists():
        return base / "rootfs"
    logfile = cache_dir / "logs" / "base.log"
    logfile.unlink(missing_ok=True)
    tmp = cache_dir / f".base-{key}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    started = time.monotonic()
    log.info("building base rootfs (debootstrap %s minbase)", SUITE)
    _make_base(tmp / "rootfs", logfile)
    (tmp / ".complete").write_text(json.dumps({"seconds": round(time.monotonic() - started, 1)}) + "\n")
    for old in cache_dir.glob(f"base-{SUITE}-*"):
        shutil.rmtree(old, ignore_errors=True)
    tmp.rename(base)
    return base / "rootfs"


# ------------------------------------------------------------------------------------------------------ images


def _create_users(rootfs: Path, spec: ImageSpec, logfile: Path) -> None:
    for name, uid, home, shell in spec.users:
        script = (
            f"getent group {name} >/dev/null || groupadd --system -g {uid} {name}\n"
            f"getent passwd {name} >/dev/null || useradd --system -u {uid} -g {uid} -d {home} -M -s {shell} {name}\n"
        )
        _chroot(rootfs, script, f"create user {name}", logfile, timeout=60)


def _install_packages(rootfs: Path, spec: ImageSpec, cache_dir: Path, logfile: Path) -> None:
    shutil.copy2("/etc/resolv.conf", rootfs / "etc/resolv.conf")
    packages = " ".join(spec.packages)
    with _mounted(rootfs, cache_dir, logfile):
        _chroot(rootfs, "apt-get -q update", f"{spec.name}: apt-get update", logfile)
        _chroot(
            rootfs,
            f"apt-get -y -q install --no-install-recommends {packages}",
            f"{spec.name}: apt-get install",
            logfile,
        )
        if spec.name == "medusa":
            _npm_install(rootfs, cache_dir, logfile)
        if spec.name == "storefront":
            _build_storefront(rootfs, cache_dir, logfile)
        _copy_assets(rootfs, spec)
        setup = spec.asset_dir / "setup.sh"
        if setup.exists():
            shutil.copy2(setup, rootfs / "tmp/storeplane-setup.sh")
            _chroot(rootfs, "sh -eu /tmp/storeplane-setup.sh", f"{spec.name}: setup.sh", logfile)


def _npm_install(rootfs: Path, cache_dir: Path, logfile: Path) -> None:
    """npm ci of the committed lockfile into the image's /app, trusting only the host's CA bundle.

    The host's npm is used when there is one (every machine kind here has it): it is ~10x faster than installing
    Debian's npm (~300 packages) into the chroot and purging it again. Without it, Debian's npm in the chroot does
    the same job. Scripts are ignored either way (no native builds, no telemetry postinstall), so the installed
    files do not depend on which npm or Node.js ran it.
    """
    app = rootfs / "app"
    app.mkdir(exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(HERE / "medusa" / name, app / name)
    flags = "ci --omit=dev --ignore-scripts --no-audit --no-fund --no-update-notifier --loglevel=warn"
    host_npm = shutil.which("npm")
    if host_npm:
        cache = cache_dir / "npm-cache"
        argv = [host_npm, *flags.split(), "--cafile", str(HOST_CA_BUNDLE), "--cache", str(cache)]
        _run(argv, "medusa: npm ci (host npm)", logfile, timeout=NPM_TIMEOUT, cwd=app)
        return
    shutil.copy2(HOST_CA_BUNDLE, rootfs / "tmp/host-ca.crt")
    _chroot(rootfs, "apt-get -y -q install --no-install-recommends npm", "medusa: apt-get install npm", logfile)
    _chroot(
        rootfs,
        f"cd /app && npm {flags} --cafile /tmp/host-ca.crt --cache /tmp/npm-cache",
        "medusa: npm ci",
        logfile,
        timeout=NPM_TIMEOUT,
    )
    _chroot(rootfs, "apt-get -y -q purge --auto-remove npm", "medusa: purge npm", logfile)


# The storefront SPA's sources (top-level storefront/) and the files of it that make the build: its README and tests
# change no byte of the image, node_modules/ and dist/ are outputs, public/ holds only a developer's config.json.
STOREFRONT_DIR = HERE.parents[2] / "storefront"
STOREFRONT_INPUTS = ("package.json", "package-lock.json", ".npmrc", "index.html", "vite.config.js", "src")


def _hash_storefront_sources(digest: hashlib._Hash) -> None:
    for name in STOREFRONT_INPUTS:
        path = STOREFRONT_DIR / name
        digest.update(b"storefront/" + name.encode() + b"\0")
        if path.is_dir():
            _hash_tree(digest, path)
        elif path.is_file():
            digest.update(path.read_bytes())


def _build_storefront(rootfs: Path, cache_dir: Path, logfile: Path) -> None:
    """npm ci + vite build of the storefront SPA with the host's npm, in a copy of its sources under the work dir
    (the checkout gets no node_modules/ or dist/); dist/ becomes the image's /usr/share/storefront/html.

    Only the static output enters the image (no Node.js there). A host without npm gets Debian's nodejs and npm.
    """
    if shutil.which("npm") is None:
        _apt_host(["install", "--no-install-recommends", "nodejs", "npm"], logfile)
    npm = shutil.which("npm")
    if npm is None:
        raise ImageBuildError("storefront: building the SPA needs npm on the host (apt-get install npm)")
    src = rootfs.parent / "storefront-src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir()
    for name in STOREFRONT_INPUTS:
        path = STOREFRONT_DIR / name
        if path.is_dir():
            shutil.copytree(path, src / name)
        elif path.is_file():
            shutil.copy2(path, src / name)
    # --include=dev: vite is a dev dependency, and a NODE_ENV=production in the caller's environment would omit it.
    flags = "ci --include=dev --ignore-scripts --no-audit --no-fund --no-update-notifier --loglevel=warn"
    cache = cache_dir / "npm-cache"
    argv = [npm, *flags.split(), "--cafile", str(HOST_CA_BUNDLE), "--cache", str(cache)]
    _run(argv, "storefront: npm ci (host npm)", logfile, timeout=NPM_TIMEOUT, cwd=src)
    _run([npm, "run", "build", "--no-update-notifier"], "storefront: vite build", logfile, timeout=NPM_TIMEOUT, cwd=src)
    html = rootfs / "usr/share/storefront/html"
    html.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src / "dist", html)


def _copy_assets(rootfs: Path, spec: ImageSpec) -> None:
    """Copies <image>/rootfs/ over the image root, keeping the modes git recorded."""
    src = spec.asset_dir / "rootfs"
    if src.is_dir():
        shutil.copytree(src, rootfs, symlinks=True, dirs_exist_ok=True)


def _strip(rootfs: Path) -> None:
    """Removes what an image must not carry: docs, apt lists and caches, logs, the build's resolv.conf."""
    for sub in ("usr/share/doc", "usr/share/man", "usr/share/info"):
        for child in (rootfs / sub).glob("*"):
            if child.is_dir() and (child / "copyright").exists():
                for extra in child.iterdir():
                    if extra.name != "copyright":
                        _remove(extra)
            else:
                _remove(child)
    _clean_apt(rootfs)
    (rootfs / "etc/resolv.conf").write_text("")
    for child in (rootfs / "dev").glob("*"):
        _remove(child)
    for child in (rootfs / "proc").glob("*"):
        _remove(child)


def _toolbox_rootfs(rootfs: Path, logfile: Path) -> None:
    """A busybox-static image: one binary, its applet links, and the nobody user."""
    with tempfile.TemporaryDirectory(prefix="storeplane-toolbox-") as tmp:
        _apt_host(["download", "busybox-static"], logfile, cwd=Path(tmp))
        deb = next(Path(tmp).glob("busybox-static_*.deb"))
        _run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "x")], "toolbox: unpack busybox-static", logfile)
        for sub in ("bin", "etc", "tmp", "usr/share/doc/busybox-static", "proc", "sys", "dev"):
            (rootfs / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(tmp) / "x/bin/busybox", rootfs / "bin/busybox")
        copyright_file = Path(tmp) / "x/usr/share/doc/busybox-static/copyright"
        if copyright_file.exists():
            shutil.copy2(copyright_file, rootfs / "usr/share/doc/busybox-static/copyright")
    applets = _run([str(rootfs / "bin/busybox"), "--list"], "toolbox: busybox --list", logfile).split()
    for applet in applets:
        link = rootfs / "bin" / applet
        if applet != "busybox" and not link.exists():
            link.symlink_to("busybox")
    (rootfs / "tmp").chmod(0o1777)
    (rootfs / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/tmp:/bin/sh\n")
    (rootfs / "etc/group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (rootfs / "etc/hosts").write_text("127.0.0.1 localhost\n")


def _changes(spec: ImageSpec) -> list[str]:
    changes = [f"USER {spec.user}", f"WORKDIR {spec.workdir}"]
    if spec.entrypoint:
        changes.append(f"ENTRYPOINT {json.dumps(list(spec.entrypoint))}")
    if spec.cmd:
        changes.append(f"CMD {json.dumps(list(spec.cmd))}")
    env = dict(spec.env)
    env.setdefault("PATH", PATH_DEFAULT)
    changes += [f"ENV {key}={value}" for key, value in env.items()]
    changes += [f"EXPOSE {port}/tcp" for port in spec.expose]
    changes.append("LABEL org.opencontainers.image.source=storeplane-local")
    return changes


def _du_bytes(path: Path) -> int:
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def _build_podman(cache_dir: Path) -> list[str]:
    """podman with a store of its own under the cache: importing and removing a build's image there can never touch
    an image of the same name that tests, the cluster tooling or a developer run from the default store."""
    store = cache_dir / "podman"
    return [*PODMAN, "--root", str(store / "root"), "--runroot", str(store / "runroot")]


def _pack(rootfs: Path, spec: ImageSpec, work: Path, out: Path, cache_dir: Path, logfile: Path) -> None:
    """tar -> podman import (with the image config) -> podman save --format docker-archive."""
    podman = _build_podman(cache_dir)
    tarball = work / "rootfs.tar"
    _run(
        ["tar", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-cf", str(tarball), "."],
        f"{spec.name}: tar rootfs",
        logfile,
    )
    argv = [*podman, "import"]
    for change in _changes(spec):
        argv += ["--change", change]
    argv += ["--message", f"storeplane local image {spec.name}", str(tarball), spec.ref]
    _run(argv, f"{spec.name}: podman import", logfile)
    tarball.unlink()
    tmp_out = out.with_suffix(".tmp")
    tmp_out.unlink(missing_ok=True)
    _run(
        [*podman, "save", "--format", "docker-archive", "-o", str(tmp_out), spec.ref],
        f"{spec.name}: podman save",
        logfile,
    )
    tmp_out.rename(out)
    # The tarball is the artifact; leaving the image in the build store would only pile up old copies.
    subprocess.run([*podman, "rmi", spec.ref], capture_output=True, check=False)


@dataclass
class BuildResult:
    """One image's artifact and what its build measured."""

    ref: str
    archive: Path
    key: str
    cached: bool
    seconds: float
    rootfs_bytes: int = 0
    archive_bytes: int = 0
    extra: dict[str, object] = field(default_factory=dict)


def build_image(spec: ImageSpec, cache_dir: Path) -> BuildResult:
    """Builds one image unless an archive for the same input hash is cached; returns where it is."""
    started = time.monotonic()
    key = image_key(spec)
    out = cache_dir / f"{spec.name}-{key[:16]}.tar"
    meta_path = out.with_suffix(".json")
    if out.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        meta_path.touch()  # marks the archive as recently used for _prune (the archive itself stays untouched)
        return BuildResult(
            spec.ref, out, key, True, time.monotonic() - started, meta.get("rootfs_bytes", 0), out.stat().st_size
        )
    out.unlink(missing_ok=True)  # an archive without its .json is from an interrupted build
    logfile = cache_dir / "logs" / f"{spec.name}.log"
    logfile.parent.mkdir(parents=True, exist_ok=True)
    logfile.write_text(f"# build of {spec.ref} key {key}\n")
    ensure_host_tools(logfile)
    work = cache_dir / "work" / spec.name
    _discard_work(work)
    work.mkdir(parents=True)
    rootfs = work / "rootfs"
    log.info("building %s", spec.ref)
    try:
        if spec.from_base:
            base = ensure_base(cache_dir)
            _run(["cp", "-a", str(base), str(rootfs)], f"{spec.name}: copy base", logfile)
            _create_users(rootfs, spec, logfile)
            _install_packages(rootfs, spec, cache_dir, logfile)
        else:
            rootfs.mkdir()
            _toolbox_rootfs(rootfs, logfile)
        _strip(rootfs)
        rootfs_bytes = _du_bytes(rootfs)
        _pack(rootfs, spec, work, out, cache_dir, logfile)
    finally:
        _discard_work(work)
    seconds = time.monotonic() - started
    meta = {
        "ref": spec.ref,
        "key": key,
        "seconds": round(seconds, 1),
        "rootfs_bytes": rootfs_bytes,
        "archive_bytes": out.stat().st_size,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    _prune(cache_dir, spec.name)
    log.info("built %s in %.0fs", spec.ref, seconds)
    return BuildResult(spec.ref, out, key, False, seconds, rootfs_bytes, out.stat().st_size)


KEEP_ARCHIVES = 3


def _prune(cache_dir: Path, name: str) -> None:
    """Keeps the KEEP_ARCHIVES most recently used archives of an image. More than one: worktrees or branches with
    different inputs share the cache, and deleting each other's archive would make every run rebuild."""
    metas = sorted(cache_dir.glob(f"{name}-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for meta in metas[KEEP_ARCHIVES:]:
        meta.with_suffix(".tar").unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
    for archive in cache_dir.glob(f"{name}-*.tar"):
        if not archive.with_suffix(".json").exists():
            archive.unlink(missing_ok=True)


def _discard_work(work: Path) -> None:
    """Removes a work dir, first unmounting whatever a killed build may have left mounted in it."""
    prefix = str(work.resolve()) + "/"
    with open("/proc/mounts") as mounts:
        targets = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for target in sorted(targets, reverse=True):
        subprocess.run(["umount", "-l", target], check=False, capture_output=True)
    if work.exists():
        shutil.rmtree(work, ignore_errors=True)


def build_images(cache_dir: Path, names: Sequence[str] | None = None) -> list[BuildResult]:
    """Builds the named images (all by default) in a stable order; see build_all for the contract."""
    cache_dir = Path(cache_dir).expanduser()
    cache_dir.mkdir(parents=True, exist_ok=True)
    selected = list(names) if names else list(IMAGES)
    unknown = [n for n in selected if n not in IMAGES]
    if unknown:
        raise ImageBuildError(f"unknown image(s): {', '.join(unknown)}; known: {', '.join(IMAGES)}")
    with _build_lock(cache_dir), _terminate_as_exception():
        results = []
        for name in selected:
            with progress(f"image {name}", say=_say):
                results.append(build_image(IMAGES[name], cache_dir))
        return results


@contextlib.contextmanager
def _terminate_as_exception() -> Iterator[None]:
    """Turns SIGTERM into an exception while building, so the `finally` blocks unmount /proc and the apt caches
    and remove the work dir even when a timeout or an operator stops the build."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise ImageBuildError("image build stopped by SIGTERM")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _build_lock(cache_dir: Path) -> Iterator[None]:
    """One build at a time per cache: two engineers or a test run and `make images` share the work dirs."""
    import fcntl

    with (cache_dir / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_all(cache_dir: Path = DEFAULT_CACHE_DIR) -> dict[str, Path]:
    """Builds (or reuses) every local store image; returns image ref -> docker-archive tarball."""
    return {result.ref: result.archive for result in build_images(cache_dir)}
