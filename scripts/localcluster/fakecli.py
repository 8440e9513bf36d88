"""Fake `helm` and `kubectl` executables for unit tests of error paths a real cluster cannot produce on demand.

    fake = FakeCli(tmp_path)
    fake.on("helm", r"^upgrade --install", stderr="Error: context deadline exceeded", exit_code=1, times=1)
    fake.on("helm", r"^upgrade --install", stdout='{"info": {"status": "deployed"}}')
    subprocess.run([fake.helm, "upgrade", "--install", ...], env=fake.env)
    fake.calls("helm")  # -> [{"tool": "helm", "argv": [...], "stdin": "..."}, ...]

Rules are matched in the order added, against the arguments joined with single spaces (`re.search`); a rule with
`times=N` is used up after N matches, so sequences (fail once, then succeed) can be scripted. An unmatched call prints
`fake <tool>: no rule for: ...` to stderr and exits 127 unless a default was set with `fake.default(...)`.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

# The executable is this very module run as a script, so the fake's behaviour lives in one reviewed place.
_SCRIPT = """#!{python}
import sys
sys.path.insert(0, {root!r})
from scripts.localcluster.fakecli import _fake_main
sys.exit(_fake_main({tool!r}, {state!r}, sys.argv[1:]))
"""


@dataclass
class FakeCli:
    directory: Path

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        self.bin_dir = self.directory / "bin"
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        self.state = self.directory / "fakecli-state.json"
        self.calls_file = self.directory / "fakecli-calls.jsonl"
        self._save({"rules": [], "default": None})
        self.calls_file.write_text("")
        root = str(Path(__file__).resolve().parents[2])
        for tool in ("helm", "kubectl"):
            path = self.bin_dir / tool
            path.write_text(_SCRIPT.format(python=sys.executable, root=root, tool=tool, state=str(self.state)))
            path.chmod(0o755)

    @property
    def helm(self) -> Path:
        return self.bin_dir / "helm"

    @property
    def kubectl(self) -> Path:
        return self.bin_dir / "kubectl"

    @property
    def env(self) -> dict[str, str]:
        """Environment for a subprocess: the fakes first on PATH and named by HELM_BIN / KUBECTL_BIN."""
        return {
            **os.environ,
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "HELM_BIN": str(self.helm),
            "KUBECTL_BIN": str(self.kubectl),
        }

    def on(
        self,
        tool: str,
        pattern: str = "",
        *,
        stdout: str = "",
        stderr: str = "",
        exit_code: int = 0,
        delay: float = 0.0,
        times: int | None = None,
    ) -> FakeCli:
        """Script the reply to calls of `tool` whose joined arguments match `pattern` (regex search)."""
        state = self._load()
        state["rules"].append(
            {
                "tool": tool,
                "pattern": pattern,
                "stdout": stdout,
                "stderr": stderr,
                "exit_code": exit_code,
                "delay": delay,
                "times": times,
            }
        )
        self._save(state)
        return self

    def default(self, *, stdout: str = "", stderr: str = "", exit_code: int = 0, delay: float = 0.0) -> FakeCli:
        """Reply for calls no rule matches (otherwise they exit 127)."""
        state = self._load()
        state["default"] = {"stdout": stdout, "stderr": stderr, "exit_code": exit_code, "delay": delay}
        self._save(state)
        return self

    def calls(self, tool: str | None = None) -> list[dict]:
        """Every recorded call, in order: {"tool", "argv" (without the program name), "stdin"}."""
        records = [json.loads(line) for line in self.calls_file.read_text().splitlines() if line]
        return [r for r in records if tool is None or r["tool"] == tool]

    def _load(self) -> dict:
        return json.loads(self.state.read_text())

    def _save(self, state: dict) -> None:
        tmp = self.state.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.state)


def _read_stdin() -> str | None:
    """Stdin when the caller gave some (a pipe or file); None for a terminal or nothing pending."""
    import select

    if sys.stdin is None or sys.stdin.isatty():
        return None
    try:
        ready, _, _ = select.select([sys.stdin], [], [], 0.2)
    except (OSError, ValueError):
        ready = [sys.stdin]  # regular files are always readable but select may refuse some descriptors
    data = sys.stdin.read() if ready else ""
    return data or None  # /dev/null and an empty pipe both mean "no stdin given"


def _fake_main(tool: str, state_path: str, argv: list[str]) -> int:
    import re
    import time

    state_file = Path(state_path)
    stdin = _read_stdin()
    joined = " ".join(argv)
    # Concurrent fake calls (a test may run several) serialise on the state file to count `times` correctly.
    with open(state_file.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = json.loads(state_file.read_text())
        reply = None
        for rule in state["rules"]:
            if rule["tool"] != tool or not re.search(rule["pattern"], joined):
                continue
            if rule["times"] is not None:
                if rule["times"] <= 0:
                    continue
                rule["times"] -= 1
            reply = rule
            break
        tmp = state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(state_file)
        with open(state_file.parent / "fakecli-calls.jsonl", "a") as calls:
            calls.write(json.dumps({"tool": tool, "argv": argv, "stdin": stdin}) + "\n")
    reply = reply or state["default"]
    if reply is None:
        sys.stderr.write(f"fake {tool}: no rule for: {joined}\n")
        return 127
    if reply["delay"]:
        time.sleep(reply["delay"])
    sys.stdout.write(reply["stdout"])
    sys.stderr.write(reply["stderr"])
    return int(reply["exit_code"])
