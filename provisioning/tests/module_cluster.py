"""For module-scoped real-cluster fixtures (a store provisioned once per module): the settings and environment that
send the platform's helm and kubectl to the local cluster, and its backups to a local S3 endpoint. pytest-django's
`settings` and pytest's `monkeypatch` are per test, so these fixtures hold both for the module themselves."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.test import override_settings

TOOL_HOMES = ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")


@contextmanager
def on_the_cluster(
    k8s_cluster, s3_endpoint=None, *, bucket: str | None = None, **more: Any
) -> Iterator[dict[str, Any]]:
    """The cluster's kubeconfig and tools (settings and the tools' environment); with `s3_endpoint` (the fixture's
    (url, root)), backups go to `bucket` there; `more` are further settings. Yields the settings it overrides (a
    worker started in another process needs them in its environment)."""
    from backups.tests.conftest import ACCESS, SECRET

    overrides: dict[str, Any] = {
        "KUBECONFIG": str(k8s_cluster.kubeconfig),
        "HELM_BIN": str(k8s_cluster.helm),
        "KUBECTL_BIN": str(k8s_cluster.kubectl),
    }
    if s3_endpoint is not None:
        overrides |= {
            "BACKUP_S3_ENDPOINT": s3_endpoint[0],
            "BACKUP_S3_ACCESS_KEY": ACCESS,
            "BACKUP_S3_SECRET_KEY": SECRET,
            "BACKUP_S3_BUCKET": bucket,
        }
    with pytest.MonkeyPatch.context() as patch, override_settings(**overrides, **more):
        for name in TOOL_HOMES:
            patch.setenv(name, k8s_cluster.env[name])
        patch.setenv("KUBECONFIG", str(k8s_cluster.kubeconfig))
        yield {**overrides, **more}
