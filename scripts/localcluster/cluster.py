"""`up`, `down` and `status` of the single-node cluster: etcd, kube-apiserver, controller-manager, scheduler,
containerd, kubelet, kube-proxy and the hostPath provisioner, all on 127.0.0.1 with free ports, behind the traffic
guards. The cluster is machine-wide: a lock serialises up/down, a healthy cluster is reused, and the remains of a
killed one (stale PIDs, shims, mounts, guard rules, routes) are cleaned before a new one starts."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import debian, guards, ingress, k8sbuild, localimages, tools
from .kubeapi import KubeApi
from .paths import (
    BRIDGE,
    KUBECONFIG,
    LOCK_FILE,
    MACHINE_STATE,
    OWNER_FILE,
    POD_CIDR,
    REPO_ROOT,
    RUN_DIR,
    SERVICE_CIDR,
    STATE_DIR,
)
from .provisioner import storage_class_manifest
from .util import ClusterError, free_port, log, run, wait_until

PKI = MACHINE_STATE / "pki"
TOKEN_FILE = PKI / "admin.token"
ADMIN_KUBECONFIG = PKI / "admin.kubeconfig"
ETCD_DATA = MACHINE_STATE / "etcd"
CONTAINERD_ROOT = MACHINE_STATE / "containerd"  # kept across restarts: it holds the imported images
CONTAINERD_STATE = RUN_DIR / "containerd"
CONTAINERD_SOCK = CONTAINERD_STATE / "containerd.sock"
RUNC_ROOT = RUN_DIR / "runc"
KUBELET_ROOT = MACHINE_STATE / "kubelet"
CNI_DIR = MACHINE_STATE / "cni"
VOLUMES = MACHINE_STATE / "volumes"
CONF = MACHINE_STATE / "conf"
LOGS = MACHINE_STATE / "logs"

# Start order; `down` stops in reverse.
ORDER = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "containerd",
    "kubelet",
    "kube-proxy",
    "provisioner",
)


@dataclass
class Proc:
    name: str
    pid: int
    starttime: str  # /proc/PID/stat field 22: tells a recycled PID apart from ours

    def alive(self) -> bool:
        return _starttime(self.pid) == self.starttime


def _starttime(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return fields[19]


# ---------------------------------------------------------------------------------------------------- the lock


@contextlib.contextmanager
def machine_lock(timeout: float = 1800):
    """One cluster per machine: up/down from any checkout hold this lock while they change it."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "a+") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ClusterError(f"another up/down holds {LOCK_FILE} for more than {timeout:.0f}s") from None
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------------- records


def read_owner() -> dict | None:
    try:
        return json.loads(OWNER_FILE.read_text())
    except (OSError, ValueError):
        return None


def recorded_procs(owner: dict | None) -> list[Proc]:
    if not owner:
        return []
    return [Proc(**p) for p in owner.get("procs", [])]


def _write_owner(owner: dict) -> None:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    tmp = OWNER_FILE.with_suffix(".tmp")
    tmp.write_text(json.dumps(owner, indent=1))
    tmp.replace(OWNER_FILE)
    # The checkout's copy is what `status` and people read; the machine-wide one survives a deleted checkout.
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    (STATE_DIR / "state.json").write_text(json.dumps(owner, indent=1))


def api_for(owner: dict) -> KubeApi:
    return KubeApi(f"https://127.0.0.1:{owner['ports']['apiserver']}", TOKEN_FILE)


def core_healthy(owner: dict | None) -> bool:
    """Every component alive, the API ready, the node Ready, the guards in place: the cluster can be reused (the
    ingress controller, if it is not serving, is redeployed into it)."""
    if not owner or not owner.get("complete"):
        return False
    procs = recorded_procs(owner)
    if {p.name for p in procs} != set(ORDER) or not all(p.alive() for p in procs):
        return False
    api = api_for(owner)
    return api.ready() and api.node_ready() and guards.status().startswith("installed")


def healthy(owner: dict | None) -> bool:
    """The whole cluster serves: its core and the ingress controller on the wanted STORE_INGRESS_PORT."""
    return core_healthy(owner) and _ingress_serving(owner)


def _ingress_serving(owner: dict) -> bool:
    record = owner.get("ingress") or {}
    return record.get("port") == ingress.wanted_port() and ingress.health(owner, api_for(owner)).ok


def _ensure_ingress(owner: dict) -> None:
    """Deploy the controller unless it already serves the wanted port from the image just imported; then it is
    applied again (a no-op where nothing changed), waited for and checked end to end."""
    api = api_for(owner)
    if _ingress_serving(owner) and ingress.deployed_image_key(api) == ingress.built_image_key():
        return
    owner["ingress"] = ingress.deploy(api, owner["ports"]["apiserver"], ingress.wanted_port(), owner.get("ingress"))
    _write_owner(owner)


# ---------------------------------------------------------------------------------------------------- up


def up() -> Path:
    """Start the cluster (or reuse a healthy one) and return the checkout's kubeconfig path."""
    started = time.monotonic()
    tools.ensure_tools()
    with machine_lock():
        owner = read_owner()
        if core_healthy(owner):
            log(f"reusing the running cluster started from {owner['checkout']}")
            ensure_images(owner)
            _install_kubeconfig()  # before the controller: if it fails, kubectl can still look at it
            _ensure_ingress(owner)
            return KUBECONFIG
        # Packages first: cleaning up after an earlier cluster already needs iptables and runc (a fresh machine
        # has neither).
        debian.ensure_packages()
        cleanup(owner)
        bin_dir = k8sbuild.ensure_built()
        images = localimages.wanted_images()
        owner = start(bin_dir)
        ensure_images(owner, images)
        # The core runs: if the controller fails to serve, the next `up` redeploys it without restarting the rest.
        owner["complete"] = True
        _write_owner(owner)
        _install_kubeconfig()
        _ensure_ingress(owner)
        owner["up_seconds"] = round(time.monotonic() - started, 1)
        _write_owner(owner)
        log(f"cluster ready in {owner['up_seconds']}s (start to node Ready {owner['ready_seconds']}s)")
        return KUBECONFIG


def _install_kubeconfig() -> None:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = KUBECONFIG.with_suffix(".tmp")
    shutil.copyfile(ADMIN_KUBECONFIG, tmp)
    tmp.chmod(0o600)
    tmp.replace(KUBECONFIG)


def ensure_images(owner: dict, images: dict[str, Path] | None = None) -> None:
    localimages.import_images(CONTAINERD_SOCK, images or localimages.wanted_images())


def _spawn(name: str, argv: list[str], procs: list[Proc], owner: dict, env: dict | None = None) -> Proc:
    LOGS.mkdir(parents=True, exist_ok=True)
    logfile = open(LOGS / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child, closed below
    try:
        child = subprocess.Popen(  # noqa: S603 - fixed argv built here
            argv,
            stdin=subprocess.DEVNULL,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd="/",
            env=env,
        )
    finally:
        logfile.close()
    proc = Proc(name, child.pid, _starttime(child.pid) or "")
    procs.append(proc)
    owner["procs"] = [p.__dict__ for p in procs]
    _write_owner(owner)  # record each PID as soon as it exists, so a crash mid-start can still be cleaned
    return proc


def _expect_alive(proc: Proc) -> None:
    if not proc.alive():
        tail = (LOGS / f"{proc.name}.log").read_text(errors="replace")[-1500:]
        raise ClusterError(f"{proc.name} exited during start; last log lines:\n{tail}")


def _write_pki(api_port: int) -> None:
    PKI.mkdir(parents=True, exist_ok=True)
    PKI.chmod(0o700)
    run(["openssl", "genrsa", "-out", PKI / "sa.key", "2048"])
    run(["openssl", "rsa", "-in", PKI / "sa.key", "-pubout", "-out", PKI / "sa.pub"])
    token = secrets.token_hex(24)
    fd = os.open(TOKEN_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token)
    fd = os.open(PKI / "tokens.csv", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f'{token},admin,admin,"system:masters"\n')
    kubeconfig = f"""apiVersion: v1
kind: Config
clusters:
- name: storeplane-local
  cluster:
    server: https://127.0.0.1:{api_port}
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: {token}
contexts:
- name: storeplane-local
  context: {{cluster: storeplane-local, user: admin}}
current-context: storeplane-local
"""
    fd = os.open(ADMIN_KUBECONFIG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(kubeconfig)


def _containerd_config() -> Path:
    hosts = CONF / "registry-hosts"
    # No registry is reachable and none may be contacted: every pull goes to a closed loopback port and fails fast.
    for host in ("_default", "storeplane.local", "docker.io", "registry.k8s.io", "k8s.gcr.io"):
        (hosts / host).mkdir(parents=True, exist_ok=True)
        (hosts / host / "hosts.toml").write_text(
            'server = "http://127.0.0.1:9"\n\n[host."http://127.0.0.1:9"]\n  capabilities = ["pull", "resolve"]\n'
        )
    net = CNI_DIR / "net.d"
    net.mkdir(parents=True, exist_ok=True)
    (net / "10-storeplane.conflist").write_text(
        json.dumps(
            {
                "cniVersion": "0.4.0",
                "name": "storeplane",
                "plugins": [
                    {
                        "type": "bridge",
                        "bridge": BRIDGE,
                        "isGateway": True,
                        "ipMasq": False,
                        "hairpinMode": True,
                        "ipam": {
                            "type": "host-local",
                            "ranges": [[{"subnet": POD_CIDR}]],
                            "routes": [{"dst": "0.0.0.0/0"}],
                            "dataDir": str(CNI_DIR / "ipam"),
                        },
                    },
                    {"type": "loopback"},
                ],
            },
            indent=1,
        )
    )
    config = CONF / "containerd.toml"
    config.write_text(f"""version = 2
root = "{CONTAINERD_ROOT}"
state = "{CONTAINERD_STATE}"
[grpc]
  address = "{CONTAINERD_SOCK}"
[ttrpc]
  address = "{CONTAINERD_SOCK}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{localimages.PAUSE_REF}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  # Pod network namespaces under our state dir, not the machine's /run/netns: cleanup finds them by path.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = "{RUNC_ROOT}"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{net}"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{hosts}"
""")
    return config


def _kubelet_config(port: int, healthz: int) -> Path:
    resolv = CONF / "resolv.conf"
    # Pods that do not set dnsPolicy None still must not query the host's resolver.
    resolv.write_text("nameserver 127.0.0.1\n")
    config = CONF / "kubelet.yaml"
    config.write_text(f"""apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: {port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {healthz}
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
resolvConf: {resolv}
authentication:
  anonymous: {{enabled: true}}
  webhook: {{enabled: false}}
authorization: {{mode: AlwaysAllow}}
evictionHard: {{memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 250
""")
    return config


def _component_kubeconfig(name: str) -> Path:
    path = CONF / f"{name}.kubeconfig"
    shutil.copyfile(ADMIN_KUBECONFIG, path)
    path.chmod(0o600)
    return path


def start(bin_dir: Path) -> dict:
    """Start every component in order, waiting for each to be usable; returns the owner record."""
    for d in (ETCD_DATA, CONF, LOGS, KUBELET_ROOT, VOLUMES, CNI_DIR, CONTAINERD_ROOT, CONTAINERD_STATE, RUNC_ROOT):
        d.mkdir(parents=True, exist_ok=True)
    ports = {
        name: free_port()
        for name in (
            "etcd",
            "etcd_peer",
            "apiserver",
            "controller_manager",
            "scheduler",
            "kubelet",
            "kubelet_healthz",
            "proxy_metrics",
            "proxy_healthz",
        )
    }
    owner: dict = {"checkout": str(REPO_ROOT), "started": time.time(), "ports": ports, "procs": [], "complete": False}
    procs: list[Proc] = []
    t0 = time.monotonic()
    guards.install()
    _write_pki(ports["apiserver"])

    etcd_url = f"http://127.0.0.1:{ports['etcd']}"
    peer_url = f"http://127.0.0.1:{ports['etcd_peer']}"
    etcd = _spawn(
        "etcd",
        [
            "etcd",
            "--name",
            "storeplane",
            "--data-dir",
            str(ETCD_DATA),
            "--listen-client-urls",
            etcd_url,
            "--advertise-client-urls",
            etcd_url,
            "--listen-peer-urls",
            peer_url,
            "--initial-advertise-peer-urls",
            peer_url,
            "--initial-cluster",
            f"storeplane={peer_url}",
            "--logger",
            "zap",
            "--log-outputs",
            "stderr",
        ],
        procs,
        owner,
    )

    def etcd_ok() -> bool:
        _expect_alive(etcd)
        return _http_ok(f"{etcd_url}/health")

    wait_until(etcd_ok, 60, "etcd health")

    apiserver = _spawn(
        "kube-apiserver",
        [
            str(bin_dir / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports['apiserver']}",
            "--insecure-port=0",
            f"--cert-dir={PKI / 'apiserver'}",
            f"--token-auth-file={PKI / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer=https://127.0.0.1:{ports['apiserver']}",
            f"--service-account-key-file={PKI / 'sa.pub'}",
            f"--service-account-signing-key-file={PKI / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--disable-admission-plugins=ServiceAccount",
            "--allow-privileged=true",
            "--kubelet-preferred-address-types=Hostname,InternalIP",
            "--profiling=false",
            "--v=1",
        ],
        procs,
        owner,
    )
    api = api_for(owner)

    def api_ok() -> bool:
        _expect_alive(apiserver)
        return api.ready()

    wait_until(api_ok, 90, "kube-apiserver /readyz")

    cm = _spawn(
        "kube-controller-manager",
        [
            str(bin_dir / "kube-controller-manager"),
            f"--kubeconfig={_component_kubeconfig('controller-manager')}",
            "--controllers=*,-nodeipam",
            "--leader-elect=false",
            f"--service-account-private-key-file={PKI / 'sa.key'}",
            f"--root-ca-file={PKI / 'apiserver' / 'apiserver.crt'}",
            "--use-service-account-credentials=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['controller_manager']}",
            "--port=0",
            f"--cluster-cidr={POD_CIDR}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--profiling=false",
            "--node-monitor-grace-period=20s",
            "--pod-eviction-timeout=30s",
        ],
        procs,
        owner,
    )
    sched = _spawn(
        "kube-scheduler",
        [
            str(bin_dir / "kube-scheduler"),
            f"--kubeconfig={_component_kubeconfig('scheduler')}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['scheduler']}",
            "--port=0",
            "--profiling=false",
        ],
        procs,
        owner,
    )

    containerd = _spawn("containerd", ["containerd", "--config", str(_containerd_config())], procs, owner)

    def containerd_ok() -> bool:
        _expect_alive(containerd)
        return (
            CONTAINERD_SOCK.exists()
            and run(["ctr", "--address", str(CONTAINERD_SOCK), "version"], check=False, timeout=10).returncode == 0
        )

    wait_until(containerd_ok, 60, "containerd socket")
    _forget_old_containers()

    kubelet = _spawn(
        "kubelet",
        [
            str(bin_dir / "kubelet"),
            f"--config={_kubelet_config(ports['kubelet'], ports['kubelet_healthz'])}",
            f"--kubeconfig={_component_kubeconfig('kubelet')}",
            "--container-runtime=remote",
            f"--container-runtime-endpoint=unix://{CONTAINERD_SOCK}",
            f"--root-dir={KUBELET_ROOT}",
            "--hostname-override=localhost",
            "--runtime-request-timeout=5m",
            "--v=1",
        ],
        procs,
        owner,
    )

    def node_ok() -> bool:
        for proc in (kubelet, cm, sched, apiserver):
            _expect_alive(proc)
        return api.node_ready()

    kubelet_started = time.monotonic()
    wait_until(node_ok, 120, "node localhost Ready", interval=1)
    owner["ready_seconds"] = round(time.monotonic() - t0, 1)
    owner["kubelet_to_ready_seconds"] = round(time.monotonic() - kubelet_started, 1)

    proxy = _spawn(
        "kube-proxy",
        [
            str(bin_dir / "kube-proxy"),
            f"--kubeconfig={_component_kubeconfig('kube-proxy')}",
            "--hostname-override=localhost",
            "--proxy-mode=iptables",
            f"--cluster-cidr={POD_CIDR}",
            "--masquerade-all",
            "--conntrack-max-per-core=0",
            "--conntrack-tcp-timeout-established=0",
            "--conntrack-tcp-timeout-close-wait=0",
            f"--metrics-bind-address=127.0.0.1:{ports['proxy_metrics']}",
            f"--healthz-bind-address=127.0.0.1:{ports['proxy_healthz']}",
            "--profiling=false",
        ],
        procs,
        owner,
    )
    wait_until(
        lambda: _expect_alive(proxy) or _http_ok(f"http://127.0.0.1:{ports['proxy_healthz']}/healthz"),
        60,
        "kube-proxy healthz",
    )
    guards.reassert_first()

    _apply_storage_class(api)
    _spawn(
        "provisioner",
        [sys.executable, "-m", "scripts.localcluster.provisioner", api.server, str(TOKEN_FILE), str(VOLUMES)],
        procs,
        owner,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    time.sleep(0.5)
    _expect_alive(procs[-1])
    return owner


def _http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 - loopback health endpoints only
            return resp.status == 200
    except OSError:
        return False


def _apply_storage_class(api: KubeApi) -> None:
    from .kubeapi import ApiError

    try:
        api.request("POST", "/apis/storage.k8s.io/v1/storageclasses", storage_class_manifest())
    except ApiError as exc:
        if exc.status != 409:
            raise


def _forget_old_containers() -> None:
    """Containers of a previous cluster (their tasks are dead) would make the kubelet fight stale sandboxes."""
    ctr = ["ctr", "--address", str(CONTAINERD_SOCK), "-n", "k8s.io"]
    ids = run([*ctr, "containers", "ls", "-q"], check=False).stdout.split()
    for cid in ids:
        run([*ctr, "tasks", "kill", "-s", "SIGKILL", cid], check=False)
        run([*ctr, "tasks", "delete", "-f", cid], check=False)
    if ids:
        run([*ctr, "containers", "rm", *ids], check=False, timeout=120)
        log(f"removed {len(ids)} containers left by a previous cluster")


# ---------------------------------------------------------------------------------------------------- down


def down() -> None:
    with machine_lock():
        cleanup(read_owner())
        shutil.rmtree(STATE_DIR, ignore_errors=True)


def _terminate(pids: list[int], grace: float) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_starttime(p) for p in pids):
        time.sleep(0.2)
    for pid in pids:
        if _starttime(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_starttime(p) for p in pids):
        time.sleep(0.1)


def _stray_pids() -> list[int]:
    """Processes of this tooling that no record names (a lost record, a deleted checkout, containerd shims):
    recognised by our machine-wide paths on their command line."""
    markers = (str(MACHINE_STATE).encode(), str(RUN_DIR).encode())
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if any(m in cmdline for m in markers):
            found.append(int(entry.name))
    return found


def _mounts_under(prefixes: tuple[Path, ...]) -> list[str]:
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if any(point == str(p) or point.startswith(str(p) + "/") for p in prefixes):
            mounts.append(point)
    return sorted(set(mounts), key=len, reverse=True)


def cleanup(owner: dict | None) -> None:
    """Stop everything of a (possibly dead or half-started) cluster and remove its traces; safe to run twice."""
    procs = recorded_procs(owner)
    by_name = {p.name: p for p in procs}
    # Reverse start order: the node's agents first, then the control plane, containerd last.
    for group in (
        ("provisioner", "kube-proxy"),
        ("kubelet",),
        ("kube-controller-manager", "kube-scheduler"),
        ("kube-apiserver",),
        ("etcd",),
    ):
        pids = [by_name[n].pid for n in group if n in by_name and by_name[n].alive()]
        if pids:
            _terminate(pids, grace=10)
    _kill_containers()
    if "containerd" in by_name and by_name["containerd"].alive():
        _terminate([by_name["containerd"].pid], grace=10)
    strays = _stray_pids()
    if strays:
        log(f"stopping {len(strays)} leftover processes of a previous cluster")
        _terminate(strays, grace=5)
    for point in _mounts_under((KUBELET_ROOT, CONTAINERD_ROOT, CONTAINERD_STATE, RUN_DIR)):
        if run(["umount", point], check=False).returncode != 0:
            run(["umount", "-l", point], check=False)
    proxy = k8sbuild.BIN_DIR / "kube-proxy"
    if proxy.is_file():
        run([proxy, "--cleanup"], check=False, timeout=60)  # removes the KUBE-* iptables chains
    guards.remove()
    run(["ip", "link", "del", BRIDGE], check=False)
    left = _mounts_under((KUBELET_ROOT, CONTAINERD_STATE))
    if left:
        raise ClusterError(f"mounts still present after cleanup, not removing their directories: {left[:5]}")
    for d in (ETCD_DATA, KUBELET_ROOT, CNI_DIR, VOLUMES, PKI, CONF, CONTAINERD_STATE, RUNC_ROOT):
        shutil.rmtree(d, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        OWNER_FILE.unlink()


def _kill_containers() -> None:
    """Kill and delete every runc container of ours, whether or not containerd and its shims still run."""
    root = RUNC_ROOT / "k8s.io"
    if not root.is_dir():
        return
    ids = run(["runc", "--root", root, "list", "-q"], check=False).stdout.split()
    for cid in ids:
        run(["runc", "--root", root, "kill", "--all", cid, "KILL"], check=False)
    for cid in ids:
        run(["runc", "--root", root, "delete", "--force", cid], check=False)


# ---------------------------------------------------------------------------------------------------- status


def _rss_mib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def status_lines() -> list[str]:
    owner = read_owner()
    procs = {p.name: p for p in recorded_procs(owner)}
    lines = []
    for name in ORDER:
        proc = procs.get(name)
        if proc is None:
            lines.append(f"{name:<24} stopped")
        elif proc.alive():
            lines.append(f"{name:<24} running  pid {proc.pid}  rss {_rss_mib(proc.pid)} MiB")
        else:
            lines.append(f"{name:<24} DEAD     pid {proc.pid} (recorded, not running)")
    if owner:
        alive = [p.pid for p in procs.values() if p.alive()]
        shims = [pid for pid in _stray_pids() if pid not in alive]
        total = sum(_rss_mib(pid) for pid in alive + shims)
        lines.append(f"{'memory':<24} {total} MiB RSS (components and {len(shims)} containerd shims, without pods)")
        api = api_for(owner)
        lines.append(f"{'node localhost':<24} {'Ready' if api.node_ready() else 'NOT READY'}")
        lines.append(ingress.status_line(owner, api))
        lines.append(f"{'kubeconfig':<24} {KUBECONFIG if KUBECONFIG.exists() else 'missing in this checkout'}")
        lines.append(f"{'started from':<24} {owner.get('checkout')}")
    lines.append(f"{'traffic guards':<24} {guards.status()}")
    return lines
