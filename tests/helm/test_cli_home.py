"""What a HelmCli keeps private (config, plugins, values) and what it shares (API discovery)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from airflow_flux_provider.credentials import private_folder
from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.kube import Cluster


def test_discovery_is_cached_once_per_user_not_per_release(
    sandbox_namespace: str, chart_dir: Path, cluster: Cluster
) -> None:
    """Each private HOME wrote, and removed on close, about 40 discovery cache files per release."""
    shared = private_folder("kube-cache")
    with HelmCli(cluster) as helm:
        helm.run(
            ["install", f"--namespace={sandbox_namespace}"], operands=["web", str(chart_dir)], timeout=60
        )
        assert not (helm.work_dir / ".kube").exists()
    server = cluster.api_client.configuration.host.removeprefix("https://").replace(":", "_")
    assert any((shared / "discovery" / server).rglob("serverresources.json"))
    assert stat.S_IMODE(shared.stat().st_mode) == 0o700 and shared.stat().st_uid == os.getuid()
