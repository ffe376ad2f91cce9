"""The provider registers with Airflow the way a user installs it: through the entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from airflow_flux_provider.get_provider_info import get_provider_info

AIRFLOW = Path(sys.executable).parent / "airflow"


def test_provider_info_package_name_matches_distribution():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_flux")]
    assert ep.dist is not None and ep.dist.name == get_provider_info()["package-name"]


def test_every_connection_type_hook_imports_and_matches():
    import importlib

    for conn in get_provider_info()["connection-types"]:
        module, _, cls = conn["hook-class-name"].rpartition(".")
        hook = getattr(importlib.import_module(module), cls)
        assert hook.conn_type == conn["connection-type"]
        assert hook.hook_name == conn["hook-name"]


def test_airflow_lists_the_provider_and_its_connection_types():
    providers = subprocess.run([AIRFLOW, "providers", "list"], capture_output=True, text=True, check=True)
    assert "airflow-flux-provider" in providers.stdout
    hooks = subprocess.run([AIRFLOW, "providers", "hooks"], capture_output=True, text=True, check=True)
    for conn_type in ("flux_git", "flux_registry", "flux_helm", "flux_bucket", "flux_notification"):
        assert conn_type in hooks.stdout


def test_every_listed_module_and_class_imports():
    import importlib

    info = get_provider_info()
    for section in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[section]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for path in (*info["notifications"], *info["extra-links"]):
        module, _, name = path.rpartition(".")
        assert hasattr(importlib.import_module(module), name), path
