"""``python -m airflow_flux_provider validate``: run as a user would, in a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.specs.test_load import KUSTOMIZATION, NAMESPACE, SOURCE


def _validate(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow_flux_provider", "validate", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_valid_folder(tmp_path: Path) -> None:
    (tmp_path / "clusters").mkdir()
    (tmp_path / "clusters" / "sync.yaml").write_text(f"{SOURCE}---\n{KUSTOMIZATION}")
    (tmp_path / "ns.yaml").write_text(NAMESPACE)
    result = _validate(str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "✔ GitRepository/flux-system/app (source.toolkit.fluxcd.io/v1)",
        "✔ Kustomization/flux-system/apps (kustomize.toolkit.fluxcd.io/v1)",
        "2 Flux object(s) valid, 1 other object(s) passed through",
    ]


def test_a_bad_file_fails_with_one_line_per_problem(tmp_path: Path) -> None:
    path = tmp_path / "sync.yaml"
    path.write_text(SOURCE.replace("interval: 1m", "interval: often"))
    result = _validate(str(path))
    assert result.returncode == 1
    assert result.stderr.startswith(f"✗ {path}: GitRepository/flux-system/app field spec.interval (line 8): ")
    assert "invalid duration 'often'" in result.stderr


def test_stdin_and_show_print_the_understood_object() -> None:
    result = _validate("-", "--show", stdin=SOURCE)
    assert result.returncode == 0, result.stderr
    shown = yaml.safe_load(result.stdout.split("\n", 1)[1].split("---", 1)[0])
    assert shown["spec"]["ref"] == {"branch": "master"}
    assert shown["spec"]["timeout"] == "1m"


def test_placeholders_are_filled_from_var_or_reported_as_not_checked(tmp_path: Path) -> None:
    path = tmp_path / "sync.yaml"
    path.write_text(SOURCE.replace("interval: 1m", "interval: ${SYNC_INTERVAL}"))
    unfilled = _validate(str(path))
    assert unfilled.returncode == 0, unfilled.stderr
    assert unfilled.stdout.splitlines() == [
        "⚠ GitRepository/flux-system/app: not checked, placeholders without a value"
        " (--var SYNC_INTERVAL=...)",
        "0 Flux object(s) valid, 0 other object(s) passed through, 1 not checked",
    ]
    filled = _validate(str(path), "--var", "SYNC_INTERVAL=5m", "--show")
    assert filled.returncode == 0, filled.stderr
    assert "interval: 5m" in filled.stdout
    wrong = _validate(str(path), "--var", "SYNC_INTERVAL=often")
    assert wrong.returncode == 1 and "invalid duration 'often'" in wrong.stderr
    defaulted = path.read_text().replace("${SYNC_INTERVAL}", "${SYNC_INTERVAL:-often}")
    path.write_text(defaulted)  # a placeholder's default counts as its value
    assert "invalid duration 'often'" in _validate(str(path)).stderr
