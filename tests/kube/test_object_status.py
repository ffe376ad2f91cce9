"""Sources, image objects and Canaries hold their status where their controllers write it, and
their tasks skip while the object is suspended in the cluster (``flux suspend``)."""

from __future__ import annotations

import json
import logging
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSkipException
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_flux_provider.canary import CanaryStatus, load_status, save_status
from airflow_flux_provider.canary.errors import CanaryError
from airflow_flux_provider.images.policy import PolicyResult
from airflow_flux_provider.images.registry import ScanResult
from airflow_flux_provider.images.status import ImageStatus
from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.kube.record import update_status
from airflow_flux_provider.operators.sources import GitRepositoryOperator
from airflow_flux_provider.sources.git import GitAuthError
from flux_devkit.sandbox import Sandbox
from flux_devkit.services.git_http import GitServer
from tests.services.connections import AirflowConnections

GIT = "source.toolkit.fluxcd.io/v1"
IMAGE = "registry.example/web"


def _git_key(namespace: str, name: str) -> ObjectKey:
    return ObjectKey(GIT, "GitRepository", namespace, name)


@pytest.fixture
def connections(
    airflow_connections: AirflowConnections,
    sandbox: Sandbox,
    git_server: GitServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> AirflowConnections:
    airflow_connections.kubernetes("status_k8s", sandbox)
    airflow_connections.git("fleet_auth", git_server)
    airflow_connections.add("wrong_auth", {"conn_type": "flux_git", "login": "x", "password": "not-it-123"})
    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_PATH", str(tmp_path / "artifacts"))
    return airflow_connections


def _git_task(git_server: GitServer, namespace: str, secret: str, repo: str) -> GitRepositoryOperator:
    spec = {"url": git_server.repo_url(repo), "interval": "1m", "ref": {"branch": "main"},
            "secretRef": {"name": secret}}  # fmt: skip
    return GitRepositoryOperator(
        task_id="fleet", name="fleet", spec=spec, namespace=namespace, kubernetes_conn_id="status_k8s"
    )


def test_a_fetch_writes_ready_and_the_artifact_and_a_failure_keeps_the_artifact(
    connections: AirflowConnections, git_server: GitServer, sandbox: Sandbox, sandbox_namespace: str
) -> None:
    git_server.create_repo("status-fleet", {"apps/a.yaml": "a: 1\n"})
    xcom = _git_task(git_server, sandbox_namespace, "fleet_auth", "status-fleet").execute(
        {"outlet_events": OutletEventAccessors()}
    )
    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
    live = cluster.get(_git_key(sandbox_namespace, "fleet"))
    assert live is not None
    status = live["status"]
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("Ready", "True", "Succeeded")
    ]
    assert status["conditions"][0]["message"] == f"stored artifact for revision '{xcom['revision']}'"
    artifact = status["artifact"]
    assert (artifact["revision"], artifact["digest"], artifact["size"]) == (
        xcom["revision"], xcom["digest"], xcom["size"],
    )  # fmt: skip
    assert artifact["url"] == xcom["url"] and artifact["path"].startswith("sha256/")
    assert status["observedGeneration"] == live["metadata"]["generation"]
    table = sandbox.kubectl("get", "gitrepositories", "-n", sandbox_namespace).stdout.splitlines()
    assert table[1].split()[3:6] == ["True", "stored", "artifact"] and xcom["revision"] in table[1]

    with pytest.raises(GitAuthError):
        _git_task(git_server, sandbox_namespace, "wrong_auth", "status-fleet").execute(
            {"outlet_events": OutletEventAccessors()}
        )
    failed = cluster.get(_git_key(sandbox_namespace, "fleet"))
    assert failed is not None
    ready = failed["status"]["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", "GitOperationFailed")
    assert "not-it-123" not in json.dumps(failed)  # the message names no secret
    assert failed["status"]["artifact"] == artifact  # Flux keeps serving the last artifact


def test_a_task_skips_while_its_object_is_suspended_in_the_cluster(
    connections: AirflowConnections, git_server: GitServer, sandbox: Sandbox, sandbox_namespace: str
) -> None:
    git_server.create_repo("suspended-fleet", {"apps/a.yaml": "a: 1\n"})
    task = _git_task(git_server, sandbox_namespace, "fleet_auth", "suspended-fleet")
    task.execute({"outlet_events": OutletEventAccessors()})
    sandbox.kubectl(
        "patch",
        "gitrepository",
        "fleet",
        "-n",
        sandbox_namespace,
        "--type=merge",
        "-p",
        '{"spec":{"suspend":true}}',
    )  # fmt: skip  (what 'flux suspend source git' does)
    before = sandbox.kubectl("get", "gitrepository", "fleet", "-n", sandbox_namespace, "-o", "json").stdout
    git_server.commit("suspended-fleet", {"apps/a.yaml": "a: 2\n"})
    with pytest.raises(AirflowSkipException) as skipped:
        task.execute({"outlet_events": OutletEventAccessors()})
    message = str(skipped.value)
    assert f"GitRepository/{sandbox_namespace}/fleet is suspended in the cluster" in message
    assert f"flux resume source git fleet -n {sandbox_namespace}" in message
    after = sandbox.kubectl("get", "gitrepository", "fleet", "-n", sandbox_namespace, "-o", "json").stdout
    assert json.loads(after)["status"] == json.loads(before)["status"]  # nothing fetched, nothing written

    sandbox.kubectl("patch", "gitrepository", "fleet", "-n", sandbox_namespace, "--type=merge",
                    "-p", '{"spec":{"suspend":false}}')  # fmt: skip
    resumed = task.execute({"outlet_events": OutletEventAccessors()})
    assert resumed["changed"]


def _image(kind: str, name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    version = (
        "image.toolkit.fluxcd.io/v1" if kind == "ImageUpdateAutomation" else "image.toolkit.fluxcd.io/v1beta2"
    )
    return {
        "apiVersion": version,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def test_image_objects_hold_scan_policy_and_push_results(sandbox: Sandbox, sandbox_namespace: str) -> None:
    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
    ns = sandbox_namespace
    repo = _image("ImageRepository", "web", ns, {"image": IMAGE, "interval": "5m"})
    tags = ["2.9.5", "2.10.14", "1.0.0"] + [f"0.0.{i}" for i in range(10)]
    update_status(
        cluster, repo, ImageStatus, partial(ImageStatus.scanned, scan=ScanResult(IMAGE, IMAGE, tags))
    )
    scan = cluster.get(ObjectKey.of(repo))
    assert scan is not None
    result = scan["status"]["lastScanResult"]
    assert result["tagCount"] == 13 and result["latestTags"][:2] == [
        "2.9.5",
        "2.10.14",
    ]  # string order, as Flux
    assert len(result["latestTags"]) == 10
    again = update_status(
        cluster, repo, ImageStatus, partial(ImageStatus.scanned, scan=ScanResult(IMAGE, IMAGE, tags))
    )
    assert again.live is not None  # the same scan again: nothing new, nothing written
    assert again.live["metadata"]["resourceVersion"] == scan["metadata"]["resourceVersion"]

    policy = _image("ImagePolicy", "web", ns, {"imageRepositoryRef": {"name": "web"},
                                                "policy": {"semver": {"range": ">=1.0.0"}}})  # fmt: skip
    update_status(
        cluster,
        policy,
        ImageStatus,
        partial(ImageStatus.resolved, choice=PolicyResult(IMAGE, "2.9.5")),
    )
    record = update_status(
        cluster, policy, ImageStatus, partial(ImageStatus.resolved, choice=PolicyResult(IMAGE, "2.10.14"))
    )
    assert record.message == f"Latest image tag for {IMAGE} resolved to 2.10.14 (previously {IMAGE}:2.9.5)"
    table = sandbox.kubectl("get", "imagepolicies", "-n", ns).stdout.splitlines()
    assert table[1].split()[:4] == ["web", IMAGE, "2.10.14", "True"]

    automation = _image("ImageUpdateAutomation", "fleet", ns, {
        "interval": "5m", "sourceRef": {"kind": "GitRepository", "name": "fleet"},
        "git": {"commit": {"author": {"email": "bot@example.com", "name": "bot"}}},
        "update": {"path": "./apps"}})  # fmt: skip
    pushed = update_status(
        cluster,
        automation,
        ImageStatus,
        partial(ImageStatus.pushed, revision="main@sha1:" + "a" * 40, branch="main"),
    )
    assert pushed.message == "pushed commit 'aaaaaaa' to branch 'main'"
    quiet = update_status(
        cluster, automation, ImageStatus, partial(ImageStatus.pushed, revision=None, branch="main")
    )
    live = quiet.live or {}
    assert live["status"]["lastPushCommit"] == "a" * 40  # a run that pushed nothing keeps the last push
    assert live["status"]["conditions"][0]["message"] == "pushed commit 'aaaaaaa' to branch 'main'"


def _canary(namespace: str) -> dict[str, Any]:
    meta = {"name": "web", "namespace": namespace}
    return {"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "metadata": meta,
            "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "service": {"port": 80}, "analysis": {"interval": "1m", "threshold": 2}}}  # fmt: skip


def test_canary_status_goes_through_the_status_subresource_and_kubectl_prints_it(
    sandbox: Sandbox, sandbox_namespace: str
) -> None:
    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
    with pytest.raises(CanaryError, match="not in the cluster"):
        load_status(cluster, sandbox_namespace, "web")
    cluster.apply(_canary(sandbox_namespace))
    status = CanaryStatus().synced("Progressing", "abc123", weight=20, failed=1, iterations=2)
    save_status(cluster, sandbox_namespace, "web", status)
    assert load_status(cluster, sandbox_namespace, "web") == status
    live = cluster.get(ObjectKey("flagger.app/v1beta1", "Canary", sandbox_namespace, "web"))
    assert live is not None and "observedGeneration" not in live["status"]  # Flagger writes none
    assert live["status"]["conditions"][0]["type"] == "Promoted"
    table = sandbox.kubectl("get", "canaries", "-n", sandbox_namespace).stdout.splitlines()
    assert table[1].split()[:3] == ["web", "Progressing", "20"]


def test_without_the_crd_a_canary_status_is_kept_in_a_configmap(
    bare_cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    status = CanaryStatus().synced("Initialized", "abc123")
    with caplog.at_level(logging.WARNING, logger="airflow_flux_provider.kube.record"):
        save_status(bare_cluster, "flux-system", "web", status)
    assert "does not serve Canary" in caplog.text
    assert load_status(bare_cluster, "flux-system", "web") == status
    stored = bare_cluster.get(ObjectKey("v1", "ConfigMap", "flux-system", "flux-status-canary-web"))
    assert stored is not None and json.loads(stored["data"]["status.json"])["phase"] == "Initialized"


@pytest.fixture(scope="module")
def bare_cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A cluster that serves no Flux or Flagger CRD."""
    with Sandbox(tmp_path_factory.mktemp("bare")).start() as bare:
        bare.kubectl("create", "namespace", "flux-system")
        yield Cluster.from_kubeconfig(str(bare.kubeconfig), backoff_seconds=0.05)
