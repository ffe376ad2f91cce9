"""What a HelmCli keeps private (config, values, repository caches) and what it shares (API
discovery, our post-render plugin, the Wasm compilation cache)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from airflow_flux_provider.credentials import private_folder
from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.kube import Cluster
from tests.helm.conftest import helm_release, reconcile


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


def test_a_release_leaves_only_its_own_files_in_the_private_home(
    sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster
) -> None:
    """Removing eight folders per release cost more wall time under load than the helm run's writes."""
    outcome = reconcile(helm_release(sandbox_namespace, {}), chart_dir, cli, cluster)
    assert outcome.ready, outcome.message
    home = sorted(p.name + ("/" if p.is_dir() else "") for p in cli.work_dir.iterdir())
    assert home == ["in", "kubeconfig", "out", "values.yaml"]  # the pipes the post-renderer talks over
    plugin = private_folder("helm-plugins") / "flux-post-render"
    assert sorted(p.name for p in plugin.iterdir() if not p.name.startswith(".")) == [
        "launch.sh",
        "plugin.yaml",
    ]
    assert cli.plugins_dir == plugin.parent and stat.S_IMODE(plugin.parent.stat().st_mode) == 0o700
    assert (private_folder("helm-cache") / "wazero-build").is_dir()
