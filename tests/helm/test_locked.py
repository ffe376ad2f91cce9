"""A release left pending by a killed helm process is unlocked (Flux's Locked state)."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

from airflow_flux_provider import events
from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.kube import Cluster, ObjectKey
from tests.helm.conftest import helm_release, reconcile


def _set_stored_status(cluster: Cluster, namespace: str, name: str, revision: int, status: str) -> None:
    """Rewrite helm's release record as a helm process killed mid-upgrade leaves it."""
    key = ObjectKey("v1", "Secret", namespace, f"sh.helm.release.v1.{name}.v{revision}")
    secret = cluster.get(key)
    assert secret is not None
    release = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(secret["data"]["release"]))))
    release["info"]["status"] = status
    encoded = base64.b64encode(gzip.compress(json.dumps(release).encode())).decode()
    secret["data"]["release"] = base64.b64encode(encoded.encode()).decode()
    secret["metadata"]["labels"]["status"] = status
    for field in ("managedFields", "resourceVersion", "uid", "creationTimestamp"):
        secret["metadata"].pop(field, None)
    cluster.apply(secret, force=True)


def test_pending_upgrade_is_rolled_back_then_upgraded(
    sandbox: Any,
    sandbox_namespace: str,
    chart_dir: Path,
    cli: HelmCli,
    cluster: Cluster,
    emitted: list[events.Event],
) -> None:
    ns = sandbox_namespace
    assert reconcile(helm_release(ns, {}), chart_dir, cli, cluster).ready
    assert reconcile(helm_release(ns, {"values": {"replicas": 2}}), chart_dir, cli, cluster).ready
    _set_stored_status(cluster, ns, "web", 2, "pending-upgrade")

    outcome = reconcile(helm_release(ns, {"values": {"replicas": 2}}), chart_dir, cli, cluster)

    assert outcome.ready, outcome.message
    assert outcome.actions == ["rollback", "upgrade"]
    assert any(e.reason == "Unlocked" and "in pending-upgrade state" in e.message for e in emitted)
    history = json.loads(sandbox.helm("history", "web", "-n", ns, "-o", "json").stdout)
    assert history[-1]["status"] == "deployed" and history[-1]["revision"] == 4
