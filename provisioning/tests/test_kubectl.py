"""kubectl: argv builders, -o json parsers, idempotent namespace calls, exec with values on stdin, and the health
check, against a fake kubectl executable."""

import json

import pytest

from provisioning import kubectl
from provisioning.errors import ClusterUnreachable, UnexpectedOutput

SECRET = "Adm1n pass $(id) `x` 'q' \"dq\";"


@pytest.fixture(autouse=True)
def _kubectl_bin(settings):
    settings.KUBECTL_BIN = "/opt/k/kubectl"
    settings.KUBECTL_REQUEST_TIMEOUT_SECONDS = 30


def pod(name, ready=True, phase="Running", labels=None):
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "wordpress"}, {"name": "metrics"}]},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def test_argv_builders():
    assert kubectl.apply_stdin_argv() == [
        "/opt/k/kubectl",
        "--request-timeout=30s",
        "apply",
        "-f",
        "-",
        "--output",
        "json",
    ]
    assert kubectl.delete_namespace_argv("store-1") == [
        "/opt/k/kubectl",
        "--request-timeout=30s",
        "delete",
        "namespace",
        "store-1",
        "--ignore-not-found",
        "--wait=false",
    ]
    assert kubectl.list_namespaces_argv("app.kubernetes.io/managed-by=storeplane")[-2:] == [
        "--selector",
        "app.kubernetes.io/managed-by=storeplane",
    ]
    assert kubectl.get_pods_argv("ns", "app.kubernetes.io/component=wordpress") == [
        "/opt/k/kubectl",
        "--request-timeout=30s",
        "--namespace",
        "ns",
        "get",
        "pods",
        "--output",
        "json",
        "--selector",
        "app.kubernetes.io/component=wordpress",
    ]
    # A watch is bounded by its own --timeout, not cut by --request-timeout.
    assert kubectl.rollout_status_argv("ns", "deployment/wordpress", 300) == [
        "/opt/k/kubectl",
        "--namespace",
        "ns",
        "rollout",
        "status",
        "deployment/wordpress",
        "--watch",
        "--timeout=300s",
    ]
    assert kubectl.exec_argv("ns", "wp-0", "wordpress", ["wp", "core", "is-installed"]) == [
        "/opt/k/kubectl",
        "--namespace",
        "ns",
        "exec",
        "wp-0",
        "-c",
        "wordpress",
        "--",
        "wp",
        "core",
        "is-installed",
    ]


def test_exec_refuses_a_command_string():
    with pytest.raises(TypeError):
        kubectl.exec_argv("ns", "pod", "c", "wp core install --admin_password=x")


def test_parsers():
    assert kubectl.parse_namespaces(
        json.dumps(
            {"items": [{"metadata": {"name": "store-1", "labels": {"a": "b"}}, "status": {"phase": "Terminating"}}]}
        )
    ) == [kubectl.Namespace("store-1", {"a": "b"}, "Terminating")]
    pods = kubectl.parse_pods(json.dumps({"items": [pod("a"), pod("b", ready=False, phase="Pending")]}))
    assert [(p.name, p.ready, p.phase) for p in pods] == [("a", True, "Running"), ("b", False, "Pending")]
    assert pods[0].containers == ("wordpress", "metrics")
    ingress = {
        "items": [
            {"metadata": {"name": "s1"}, "spec": {"rules": [{"host": "s1.localhost"}, {"host": "s1.localhost"}, {}]}},
            {
                "metadata": {"name": "s2"},
                "spec": {"rules": [{"host": "s2.localhost"}]},
                "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}, {"hostname": "lb.example"}, {}]}},
            },
        ]
    }
    assert kubectl.parse_ingresses(json.dumps(ingress)) == [
        kubectl.IngressState("s1", ("s1.localhost",), ()),
        kubectl.IngressState("s2", ("s2.localhost",), ("127.0.0.1", "lb.example")),
    ]
    workloads = {
        "items": [
            {"kind": "Deployment", "metadata": {"name": "wordpress"}},
            {"kind": "StatefulSet", "metadata": {"name": "db"}},
        ]
    }
    assert kubectl.parse_workloads(json.dumps(workloads)) == ["deployment/wordpress", "statefulset/db"]
    assert kubectl.parse_server_version(json.dumps({"serverVersion": {"gitVersion": "v1.20.2"}})) == "v1.20.2"


@pytest.mark.parametrize("parse", [kubectl.parse_pods, kubectl.parse_namespaces, kubectl.parse_server_version])
def test_parsers_refuse_unexpected_output(parse):
    with pytest.raises(UnexpectedOutput):
        parse("error: You must be logged in to the server (Unauthorized)")


# --- against a fake kubectl ---------------------------------------------------------------------------------


@pytest.fixture
def fake(fake_kubectl, settings):
    settings.KUBECONFIG = "/srv/kubeconfig"
    return fake_kubectl


def test_create_namespace_applies_a_labelled_manifest_on_stdin(fake):
    tool = fake("manifest = json.loads(stdin); manifest['metadata']['uid'] = 'u1'; print(json.dumps(manifest))")
    namespace = kubectl.create_namespace(
        "store-1", {"storeplane.io/store-id": "store-1", "storeplane.io/engine": "woocommerce"}
    )
    assert namespace.labels == {"storeplane.io/store-id": "store-1", "storeplane.io/engine": "woocommerce"}
    call = tool.calls[0]
    assert json.loads(call["stdin"])["kind"] == "Namespace"
    assert call["env"]["KUBECONFIG"] == "/srv/kubeconfig"
    # apply again (the step retried): the same call, no AlreadyExists to handle
    kubectl.create_namespace("store-1", {"storeplane.io/store-id": "store-1"})
    assert tool.calls[1]["argv"] == call["argv"]


def test_delete_namespace_tolerates_not_found(fake):
    fake("")  # --ignore-not-found: nothing printed, exit 0
    assert kubectl.delete_namespace("store-1") is False


def test_delete_namespace_reports_deletion(fake):
    fake("print('namespace \"store-1\" deleted')")
    assert kubectl.delete_namespace("store-1") is True


def test_list_namespaces_is_one_call(fake):
    items = [{"metadata": {"name": f"store-{i}", "labels": {}}, "status": {"phase": "Active"}} for i in range(40)]
    tool = fake(f"print(json.dumps({{'items': {items!r}}}))")
    assert len(kubectl.list_namespaces("app.kubernetes.io/managed-by=storeplane")) == 40
    assert len(tool.calls) == 1


def test_get_pods_and_ingress_hosts(fake):
    fake(
        "import json\n"
        f"pods = {json.dumps({'items': [pod('wp-1', labels={'app.kubernetes.io/component': 'wordpress'})]})!r}\n"
        "ing = json.dumps({'items': [{'spec': {'rules': [{'host': 's1.localhost'}]}}]})\n"
        "print(pods if 'pods' in argv else ing)"
    )
    assert [p.name for p in kubectl.get_pods("store-1", "app.kubernetes.io/component=wordpress")] == ["wp-1"]
    assert [i.hosts for i in kubectl.get_ingresses("store-1")] == [("s1.localhost",)]


EXEC_LOCALLY = """
import subprocess
command = argv[argv.index("--") + 1:]
done = subprocess.run(command, input=stdin.encode(), capture_output=True)
sys.stdout.write(done.stdout.decode()); sys.stderr.write(done.stderr.decode()); sys.exit(done.returncode)
"""


def test_exec_passes_env_values_on_stdin_never_in_argv(fake):
    tool = fake(EXEC_LOCALLY)
    result = kubectl.exec_in_pod(
        "store-1",
        "wp-1",
        "wordpress",
        ["sh", "-c", 'test "$ADMIN_PASSWORD" = "$1" && echo MATCH', "check", SECRET],
        env={"ADMIN_PASSWORD": SECRET},
        timeout=30,
        secrets=[SECRET],
    )
    assert result.stdout == "MATCH\n"
    assert SECRET not in " ".join(result.argv)
    # Only the test's own comparison argument carries the value; the env value itself travelled on stdin.
    argv = tool.calls[0]["argv"]
    assert argv[: argv.index("--")] == ["--namespace", "store-1", "exec", "-i", "wp-1", "-c", "wordpress"]
    assert sum(SECRET in a for a in argv) == 1
    assert f"ADMIN_PASSWORD={SECRET}" in tool.calls[0]["stdin"]


def test_exec_passes_stdin_after_the_env_block(fake):
    fake(EXEC_LOCALLY)
    result = kubectl.exec_in_pod(
        "ns",
        "pod",
        "c",
        ["sh", "-c", 'printf "%s|" "$GREETING"; cat'],
        env={"GREETING": "hi"},
        stdin=b"body\n",
        timeout=30,
    )
    assert result.stdout == "***|body\n"  # env values are treated as secrets: masked in the result


def test_exec_with_plain_stdin(fake):
    fake(EXEC_LOCALLY)
    assert kubectl.exec_in_pod("ns", "pod", "c", ["cat"], stdin=b"data", timeout=30).stdout == "data"


def test_exec_refuses_env_it_cannot_pass_safely(fake):
    with pytest.raises(ValueError):
        kubectl.exec_in_pod("ns", "pod", "c", ["true"], env={"BAD NAME": "x"}, timeout=30)
    with pytest.raises(ValueError):
        kubectl.exec_in_pod("ns", "pod", "c", ["true"], env={"A": "two\nlines"}, timeout=30)


def test_health_check_is_unknown_without_a_kubeconfig(fake_kubectl, settings):
    tool = fake_kubectl("print('{}')")
    settings.KUBECONFIG = ""
    assert kubectl.health_check()["status"] == "unknown"
    assert tool.calls == []


def test_health_check_reports_the_server_version(fake):
    fake("print(json.dumps({'serverVersion': {'gitVersion': 'v1.20.2'}}))")
    assert kubectl.health_check() == {"status": "healthy", "server": "v1.20.2"}


def test_health_check_reports_an_unreachable_cluster(fake):
    fake("print('Unable to connect to the server: connection refused', file=sys.stderr)\nsys.exit(1)")
    assert kubectl.health_check() == {"status": "unhealthy", "message": "Cannot connect to Kubernetes cluster"}


def test_wait_namespace_deleted(fake):
    tool = fake("")
    assert kubectl.wait_namespace_deleted("store-1", timeout=120) is True
    assert tool.calls[0]["argv"] == ["wait", "--for=delete", "namespace/store-1", "--timeout=120s"]


@pytest.mark.parametrize(
    ("stderr", "gone"),
    [
        ("error: timed out waiting for the condition on namespaces/store-1", False),
        ('Error from server (NotFound): namespaces "store-1" not found', True),
    ],
)
def test_wait_namespace_deleted_outcomes(fake, stderr, gone):
    fake(f"print({stderr!r}, file=sys.stderr); sys.exit(1)")
    assert kubectl.wait_namespace_deleted("store-1", timeout=5) is gone


def test_wait_namespace_deleted_raises_when_the_cluster_is_unreachable(fake):
    fake("print('Unable to connect to the server: connection refused', file=sys.stderr); sys.exit(1)")
    with pytest.raises(ClusterUnreachable):
        kubectl.wait_namespace_deleted("store-1", timeout=5)
