"""checkov (offline, --skip-download) on every engine x values file render: no failed check beyond the committed,
reasoned and scoped skip list tests/chart/checkov-skips.yaml."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from .chart_helpers import COMBOS, combo_id, render_combo
from .tools import checkov_command

SKIPS = Path(__file__).with_name("checkov-skips.yaml")


def _run_checkov(directory: Path) -> list[dict]:
    proc = subprocess.run(
        [
            *checkov_command(),
            "--skip-download",
            "--framework",
            "kubernetes",
            "-d",
            str(directory),
            "--quiet",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=directory,
    )
    # exit 1 = some check failed (judged below); anything else is checkov itself breaking.
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert [r["check_type"] for r in reports] == ["kubernetes"]
    assert reports[0]["summary"]["parsing_errors"] == 0
    assert reports[0]["summary"]["passed"] > 0
    return reports[0]["results"]["failed_checks"]


def test_checkov_reports_only_listed_failures(tmp_path):
    components = {}  # (file stem, kind, name) -> component label
    for combo in COMBOS:
        objs = render_combo(combo)
        stem = combo_id(combo)
        (tmp_path / f"{stem}.yaml").write_text(yaml.safe_dump_all(objs))
        for o in objs:
            comp = o["metadata"].get("labels", {}).get("app.kubernetes.io/component", "store")
            components[(stem, o["kind"], o["metadata"]["name"])] = comp

    skips = yaml.safe_load(SKIPS.read_text())
    assert all(s.get("reason", "").strip() and s.get("components") for s in skips), (
        "every skip needs a reason and scope"
    )
    used = set()
    unexpected = []
    for failed in _run_checkov(tmp_path):
        stem = Path(failed["file_path"]).stem
        kind, _ns, name = failed["resource"].split(".", 2)
        comp = components[(stem, kind, name)]
        platform = stem.split("+")[1]
        match = [
            i
            for i, s in enumerate(skips)
            if s["id"] == failed["check_id"] and comp in s["components"] and platform in s.get("values", [platform])
        ]
        if match:
            used.update(match)
        else:
            unexpected.append(f"{failed['check_id']} {failed['check_name']}: {stem} {kind}/{name}")
    assert unexpected == []
    assert sorted(set(range(len(skips))) - used) == [], "stale skip entries: remove them"
