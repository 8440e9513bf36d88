"""A minimal client for the local API server (token auth over loopback TLS with a self-signed cert), so the tooling
and the provisioner need neither kubectl subprocesses in tight loops nor a Kubernetes client dependency."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


class ApiError(RuntimeError):
    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class KubeApi:
    def __init__(self, server: str, token_file: Path):
        self.server = server.rstrip("/")
        self.token_file = token_file
        # The API server's certificate is self-signed and bound to loopback; the token is what authenticates.
        self._ctx = ssl.create_default_context()
        self._ctx.check_hostname = False
        self._ctx.verify_mode = ssl.CERT_NONE

    def request(self, method: str, path: str, body: Any = None, timeout: float = 10) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)  # noqa: S310 - https only
        req.add_header("Authorization", "Bearer " + self.token_file.read_text().strip())
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self._ctx, timeout=timeout) as resp:  # noqa: S310 - loopback
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, exc.read().decode(errors="replace")[:500]) from exc
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode(errors="replace")

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def ready(self) -> bool:
        try:
            return self.request("GET", "/readyz", timeout=3) == "ok"
        except (OSError, ApiError):
            return False

    def node_ready(self, name: str = "localhost") -> bool:
        try:
            node = self.get(f"/api/v1/nodes/{name}")
        except (OSError, ApiError):
            return False
        conditions = node.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
