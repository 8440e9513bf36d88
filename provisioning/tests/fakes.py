"""Scripted helm and kubectl for unit tests of the chain: a healthy cluster by default, with switches in a control
file (read by the fake at each call; the runner passes the tools only an allow-listed environment) to make one
command fail the way a real cluster can."""

import json
from pathlib import Path


class Control:
    """The switches the fakes read: e.g. {"helm": "install"} makes `helm upgrade` fail."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.set()

    def set(self, **switches: str) -> None:
        self.path.write_text(json.dumps(switches))


def body(template: str, control: Path, record: Path) -> str:
    return f"ctl = json.load(open({str(control)!r}))\nRECORD = {str(record)!r}\n" + template


FAKE_HELM = r"""
import os, stat
fail = ctl.get("helm", "")
cmd = argv[0]
if cmd == "history":
    if ctl.get("history"):
        print(ctl["history"]); sys.exit(0)
    print("Error: release: not found", file=sys.stderr); sys.exit(1)
if cmd == "upgrade":
    files = [argv[i + 1] for i, a in enumerate(argv) if a == "-f"]
    secret_file = files[-1]
    mode = stat.S_IMODE(os.stat(secret_file).st_mode)
    with open(secret_file) as handle:
        content = handle.read()
    with open(RECORD, "a") as rec:
        rec.write(json.dumps({"values_mode": oct(mode), "values_path": secret_file, "values": content}) + "\n")
    if fail == "install":
        print("Error: INSTALLATION FAILED: context deadline exceeded; " + content.replace("\n", " "), file=sys.stderr)
        sys.exit(1)
    if fail == "unreachable":
        print("Error: Kubernetes cluster unreachable: connection refused", file=sys.stderr); sys.exit(1)
    if fail == "slow":  # an install that takes a while (a test acts on the store meanwhile)
        import time
        time.sleep(float(ctl.get("seconds", "30")))
        open(RECORD + ".slow-finished", "w").close()
    print(json.dumps({"name": argv[2], "namespace": argv[argv.index("--namespace") + 1], "version": 1,
                      "info": {"status": "deployed"}}))
    sys.exit(0)
if cmd == "uninstall":
    print("release \"x\" uninstalled"); sys.exit(0)
if cmd == "list":
    print(ctl.get("list", "[]")); sys.exit(0)
if cmd in ("rollback",):
    print("Rollback was a success!"); sys.exit(0)
print("unexpected helm call", argv, file=sys.stderr); sys.exit(3)
"""

FAKE_KUBECTL = r"""
fail = ctl.get("kubectl", "")
args = [a for a in argv if not a.startswith("--request-timeout") and not a.startswith("--kubeconfig")]
def has(*words):
    return all(w in args for w in words)
if fail == "unreachable":
    print("Unable to connect to the server: dial tcp 127.0.0.1:6443: connect: connection refused", file=sys.stderr)
    sys.exit(1)
if has("apply"):
    doc = json.loads(stdin)
    print(json.dumps(doc)); sys.exit(0)
if has("get", "deployments,statefulsets"):
    ns = args[args.index("--namespace") + 1] if "--namespace" in args else args[args.index("-n") + 1]
    print(json.dumps({"items": [{"kind": "Deployment", "metadata": {"name": ns + "-wordpress"}}]})); sys.exit(0)
if has("rollout", "status"):
    print("deployment successfully rolled out"); sys.exit(0)
if has("get", "ingress"):
    ns = args[args.index("--namespace") + 1] if "--namespace" in args else args[args.index("-n") + 1]
    balancer = [] if fail == "no-controller" else [{"ip": "127.0.0.1"}]
    print(json.dumps({"items": [{"metadata": {"name": ns}, "spec": {"rules": [{"host": ns + ".localhost"}]},
                                 "status": {"loadBalancer": {"ingress": balancer}}}]})); sys.exit(0)
if has("get", "pods"):
    pod = {"metadata": {"name": "pod-1", "labels": {}}, "status": {"phase": "Running",
           "conditions": [{"type": "Ready", "status": "True"}]}, "spec": {"containers": [{"name": "wordpress"}]}}
    print(json.dumps({"items": [pod]})); sys.exit(0)
if has("exec"):
    command = args[args.index("--") + 1:]
    if fail == "setup":
        print("Error establishing a database connection", file=sys.stderr); sys.exit(1)
    if "is-installed" in command:
        sys.exit(1)
    if "/usr/local/lib/storeplane/medusa-seed-client.js" in command:
        # The Medusa image's seed client: the one JSON line of a first run (provisioning/setup.py seed_medusa).
        made = {"created": True, "addedToSalesChannel": True, "revoked": False}
        print(json.dumps({"ok": True, "store": {"name": command[-1], "currency": "usd", "updated": ["name"]},
                          "region": {"id": "reg_1", "name": "North America", "created": True},
                          "shippingOptions": {"created": ["Standard Shipping", "Express Shipping"], "existing": 0},
                          "products": {"created": ["p%d" % i for i in range(8)], "existing": 0, "addedToChannel": []},
                          "publishableKey": made, "salesChannel": "sc_1", "seconds": 0.1}))
        sys.exit(0)
    if command[0] == "sh":
        # The platform's constant setup script runs for real, against a scripted `wp` that logs each call's argv.
        import subprocess, tempfile
        bindir = tempfile.mkdtemp()
        inactive = '[ "$1 $2" = "plugin is-active" ] && exit 1\n' if fail == "inactive" else ""
        # WooCommerce setup: no product has the SKU yet (prints no id) unless the catalog is "seeded"; "no-theme"
        # makes theme activation fail as WP-CLI does.
        found = "echo 7; " if fail == "seeded" else ""
        inactive += '[ "$1 $2 $3" = "wc product list" ] && { ' + found + "exit 0; }\n"
        if fail == "no-theme":
            inactive += ('[ "$1 $2" = "theme activate" ] && '
                         '{ echo "Error: The \'$3\' theme could not be found." >&2; exit 1; }\n')
        with open(os.path.join(bindir, "wp"), "w") as wp:
            wp.write("#!/bin/sh\nprintf '%s|' \"$@\" >> " + RECORD + ".wp\necho >> " + RECORD + ".wp\n" + inactive
                     + "echo Success\n")
        os.chmod(os.path.join(bindir, "wp"), 0o755)
        done = subprocess.run(command, env={"PATH": bindir + ":/usr/bin:/bin"}, capture_output=True, text=True)
        sys.stdout.write(done.stdout); sys.stderr.write(done.stderr); sys.exit(done.returncode)
    print("Success"); sys.exit(0)
if has("delete", "namespace"):
    print("namespace \"x\" deleted"); sys.exit(0)
if has("wait"):
    if fail == "terminating":
        print("error: timed out waiting for the condition on namespaces/x", file=sys.stderr); sys.exit(1)
    sys.exit(0)
if has("get", "namespaces") or has("get", "namespace"):
    print(ctl.get("namespaces", json.dumps({"items": []}))); sys.exit(0)
print("unexpected kubectl call", args, file=sys.stderr); sys.exit(3)
"""
