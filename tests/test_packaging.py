"""The provider is what a production image installs: its wheel alone, without the dev kit.

Built from the repository and installed into a new virtual environment with the locked
versions (uv's cache makes that a few seconds), then imported module by module and listed
by ``airflow providers list`` the way an operator of Airflow would check it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

IMPORT_EVERY_MODULE = """
import importlib, importlib.util, json, pkgutil, sys
import airflow_flux_provider
names = [m.name for m in pkgutil.walk_packages(airflow_flux_provider.__path__, "airflow_flux_provider.")]
failed = {}
for name in names:
    try:
        importlib.import_module(name)
    except Exception as err:
        failed[name] = repr(err)
absent = [m for m in ("flux_devkit", "sklearn", "pytest") if importlib.util.find_spec(m) is not None]
print(json.dumps({"modules": len(names), "failed": failed, "present": absent}))
"""


@pytest.fixture(scope="module")
def provider_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("provider-wheel")
    subprocess.run([BIN / "uv", "build", "--wheel", "--out-dir", root, ROOT], check=True, capture_output=True)
    (wheel,) = root.glob("airflow_flux_provider-*.whl")
    return wheel


@pytest.fixture(scope="module")
def provider_venv(provider_wheel: Path) -> Path:
    uv = str(BIN / "uv")
    venv = provider_wheel.parent / "venv"
    subprocess.run([uv, "venv", "-q", "-p", sys.executable, venv], check=True, capture_output=True)
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "-q",
            "--python",
            venv / "bin/python",
            provider_wheel,
            "-c",
            ROOT / "requirements.lock",
        ],
        check=True,
        capture_output=True,
    )
    return venv


def test_the_wheel_holds_only_provider_code(provider_wheel: Path):
    names = zipfile.ZipFile(provider_wheel).namelist()
    packages = {name.split("/")[0] for name in names}
    assert packages == {"airflow_flux_provider", "airflow_flux_provider-0.1.0.dist-info"}
    assert not [n for n in names if "/sandbox/" in n or "/demo/" in n or "/gitops/" in n]


def test_every_provider_module_imports_without_the_dev_kit(provider_venv: Path):
    import json

    run = subprocess.run(
        [provider_venv / "bin/python", "-c", IMPORT_EVERY_MODULE],
        capture_output=True,
        text=True,
        check=True,
        cwd=provider_venv,  # not the repository: nothing may be imported from the checkout
        env={**os.environ, "PYTHONPATH": ""},
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["failed"] == {}
    assert result["modules"] > 100
    assert result["present"] == []  # no dev kit, no training library, no test tools


def test_airflow_lists_the_installed_provider(provider_venv: Path, tmp_path: Path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "PYTHONPATH": ""}
    run = subprocess.run(
        [provider_venv / "bin/airflow", "providers", "list"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=env,
    )
    assert "airflow-flux-provider" in run.stdout


def test_the_dev_kit_is_a_wheel_of_its_own_that_depends_on_the_provider(tmp_path: Path):
    subprocess.run(
        [BIN / "uv", "build", "--wheel", "--out-dir", tmp_path, ROOT / "devkit"],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("airflow_flux_devkit-*.whl")
    archive = zipfile.ZipFile(wheel)
    names = archive.namelist()
    assert {name.split("/")[0] for name in names} == {"flux_devkit", "airflow_flux_devkit-0.1.0.dist-info"}
    assert "flux_devkit/sandbox/server.py" in names
    assert "flux_devkit/demo/gitops/clusters/production/apps.yaml" in names  # the demo's GitOps data
    metadata = archive.read("airflow_flux_devkit-0.1.0.dist-info/METADATA").decode()
    assert "Requires-Dist: airflow-flux-provider" in metadata
