"""compose.yaml cannot run here (no Docker engine), so its structure is checked: services, commands, health."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def load():
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_services_and_their_commands():
    services = load()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web", "worker", "beat"}
    assert services["web"]["command"][0] == "gunicorn" and "config.wsgi:application" in services["web"]["command"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "config", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]
    assert "migrate --noinput" in services["migrate"]["command"][-1]


def test_health_checks_and_ordering():
    services = load()["services"]
    for name in ("postgres", "redis", "web", "worker"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("web", "worker", "beat"):
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["migrate"]["condition"] == "service_completed_successfully"


def test_named_volumes_and_no_public_ports():
    data = load()
    assert set(data["volumes"]) == {"pgdata", "redisdata", "metrics"}
    assert data["services"]["postgres"]["volumes"][0].startswith("pgdata:")
    for service in data["services"].values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port


def test_image_runs_as_non_root_with_the_same_server_settings():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    # Numeric, so the kubelet can check runAsNonRoot (charts/storeplane) without reading /etc/passwd.
    assert "\nUSER 10001:10001" in dockerfile and "--uid 10001" in dockerfile and "--gid 10001 storeplane" in dockerfile
    assert "config/gunicorn.py" in dockerfile and (ROOT / "config" / "gunicorn.py").is_file()


def test_web_and_workers_share_one_metrics_directory_emptied_before_they_start():
    """Each container has its own filesystem: without a shared volume /metrics would miss what workers counted."""
    services = load()["services"]
    for name in ("web", "worker", "beat"):
        env = services[name]["environment"]
        assert env["PROMETHEUS_MULTIPROC_DIR"] == "/srv/metrics", name
        assert env["PROMETHEUS_MULTIPROC_RESET"] == "false", name  # gunicorn must not wipe a worker's files
        assert "metrics:/srv/metrics" in services[name]["volumes"], name
    migrate = services["migrate"]
    assert "metrics:/srv/metrics" in migrate["volumes"]
    assert migrate["command"][-1].startswith("find /srv/metrics -mindepth 1 -delete && ")
    assert "mkdir -p /srv/metrics && chown storeplane:storeplane /srv/metrics" in (ROOT / "Dockerfile").read_text()
