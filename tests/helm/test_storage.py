"""Helm's release storage read through the API: the same revisions ``helm history`` lists."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from pathlib import Path
from typing import Any

import pytest

from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.helm.errors import HelmCommandError
from airflow_flux_provider.helm.state import HelmRevision, HelmStatus
from airflow_flux_provider.helm.storage import MAX_RELEASE_BYTES, release_history, stored_release
from airflow_flux_provider.kube import Cluster, ObjectKey
from tests.helm.conftest import helm_release, reconcile


def _helm_history(sandbox: Any, namespace: str, name: str) -> list[HelmRevision]:
    out = sandbox.helm("history", name, "-n", namespace, "-o", "json").stdout
    return [
        HelmRevision(h["revision"], HelmStatus(h["status"]), h["chart"], h["updated"])
        for h in json.loads(out)
    ]


def test_history_is_what_helm_lists(
    sandbox: Any, sandbox_namespace: str, chart_dir: Path, cluster: Cluster
) -> None:
    ns = sandbox_namespace
    assert release_history(cluster, "web", ns) == []
    sandbox.helm("install", "web", str(chart_dir), "-n", ns)
    sandbox.helm("install", "webber", str(chart_dir), "-n", ns)  # another release's revisions are not web's
    sandbox.helm("upgrade", "web", str(chart_dir), "-n", ns, "--set", "replicas=2")
    sandbox.helm("upgrade", "web", str(chart_dir), "-n", ns, "--set", "replicas=-1", check=False)  # schema
    sandbox.helm("upgrade", "web", str(chart_dir), "-n", ns, "--set", "replicas=3")

    history = release_history(cluster, "web", ns)

    assert history == _helm_history(sandbox, ns, "web")
    assert [(h.revision, h.status) for h in history] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "deployed"),
    ]
    assert history[-1].chart == "web-1.2.0"
    stored = stored_release(cluster, "web", ns, 2)
    printed = sandbox.helm("get", "manifest", "web", "-n", ns, "--revision", "2").stdout
    assert stored["manifest"] + "\n" == printed  # helm prints it with a line end
    metadata = json.loads(sandbox.helm("get", "metadata", "web", "-n", ns, "-o", "json").stdout)
    assert stored_release(cluster, "web", ns, 3)["apply_method"] == metadata["applyMethod"]
    with pytest.raises(HelmCommandError, match=f"revision 4 of release {ns}/web is not in helm's storage"):
        stored_release(cluster, "web", ns, 4)


RELEASE = {
    "name": "web",
    "version": 1,
    "info": {"status": "failed", "last_deployed": "2026-12-07T15:29:45Z"},
    "chart": {"metadata": {"name": "web", "version": "1.2.0"}},
}


def test_a_release_stored_without_gzip_is_read(sandbox_namespace: str, cluster: Cluster) -> None:
    """helm reads a record that is not gzipped as plain JSON; so do we."""
    _store(cluster, sandbox_namespace, base64.b64encode(json.dumps(RELEASE).encode()).decode())
    assert release_history(cluster, "web", sandbox_namespace) == [
        HelmRevision(1, HelmStatus.FAILED, "web-1.2.0", "2026-12-07T15:29:45Z")
    ]


def _gzip_bomb(size: int) -> bytes:
    """A readable release padded with blanks to ``size`` bytes, gzipped a MiB at a time (a few
    hundred KiB on the wire)."""
    zip_ = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [zip_.compress(json.dumps(RELEASE)[:-1].encode())]
    parts += [zip_.compress(b" " * 2**20) for _ in range(size // 2**20)]
    return b"".join([*parts, zip_.compress(b"}"), zip_.flush()])


@pytest.mark.parametrize(
    "record",
    [
        "not base64!",
        base64.b64encode(b"\x1f\x8b\x08broken").decode(),
        base64.b64encode(gzip.compress(b'{"name": "web"}')[:-12]).decode(),  # cut short
        "e30=",
        base64.b64encode(_gzip_bomb(MAX_RELEASE_BYTES + 2**20)).decode(),
    ],
    ids=["base64", "gzip", "truncated", "empty", "bomb"],
)
def test_an_unreadable_record_names_the_release_and_where_to_look(
    sandbox_namespace: str, cluster: Cluster, record: str
) -> None:
    _store(cluster, sandbox_namespace, record)
    with pytest.raises(HelmCommandError) as raised:
        release_history(cluster, "web", sandbox_namespace, obj="HelmRelease/x/web")
    message = str(raised.value)
    assert message.startswith(f"HelmRelease/x/web: helm history of {sandbox_namespace}/web is unreadable (")
    assert message.endswith("inspect the release's storage secrets (owner=helm) in that namespace")


def _store(cluster: Cluster, namespace: str, record: str) -> None:
    """A storage Secret as helm writes it, with ``record`` as the (once base64-encoded) release."""
    cluster.create({
        "apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {"name": "sh.helm.release.v1.web.v1", "namespace": namespace,
                     "labels": {"owner": "helm", "name": "web", "version": "1", "status": "failed"}},
        "data": {"release": base64.b64encode(record.encode()).decode()},
    })  # fmt: skip
    assert cluster.get(ObjectKey("v1", "Secret", namespace, "sh.helm.release.v1.web.v1")) is not None


def test_a_refused_storage_read_fails_the_reconcile_not_the_task(
    sandbox: Any, sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster
) -> None:
    sandbox.faults.add(verb="list", resource="secrets", namespace=sandbox_namespace, code=403)
    outcome = reconcile(helm_release(sandbox_namespace, {}), chart_dir, cli, cluster)
    assert not outcome.ready and outcome.actions == []
    assert f"cannot read helm's storage of {sandbox_namespace}/web: " in outcome.message
    assert "forbidden" in outcome.message.lower()
