"""Issue 20's must-show: a SOPS-encrypted Secret in Git is reconciled into the sandbox by a DAG.

The live Secret holds the plaintext; the source artifact, the render store, the XComs, the
MLflow records, the notification events and every log of the run hold none of it. With the
wrong key the render fails with an error naming the file and its recipient, and nothing of the
Kustomization is applied.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from mlflow.tracking import MlflowClient

from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.plugins import task_events
from tests.dags.cluster_dags import load_dag, use_cluster_connections
from tests.kustomize.test_decryption import AgeKey, encrypt
from tests.notifications.capture import CaptureServer
from tests.services.connections import AirflowConnections

PLAIN = "db-pa55-7f3c9e"
TOKEN = "hook-token-51ab"
CLUSTER = """
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: sops-repo, namespace: flux-system}}
spec:
  interval: 1m
  url: {url}
  ref: {{branch: main}}
  secretRef: {{name: git-credentials}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: secrets, namespace: flux-system}}
spec:
  interval: 10m
  prune: true
  path: ./app
  targetNamespace: {namespace}
  sourceRef: {{kind: GitRepository, name: sops-repo}}
  decryption:
    provider: sops
    secretRef: {{name: sops-age}}
"""
DAG_FILE = """
from airflow_flux_provider.dag_factory import flux_dag

dag = flux_dag({folder!r}, dag_id={dag_id!r}, catchup=False)
"""
SECRET = f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {PLAIN}\n"
NOTIFICATIONS = """
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: everything, namespace: flux-system}}
spec:
  providerRef: {{name: hook}}
  eventSeverity: info
  eventSources: [{{kind: Kustomization, name: "*"}}, {{kind: GitRepository, name: "*"}}]
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: hook, namespace: flux-system}}
spec: {{type: generic, address: "{url}/events"}}
"""
SETTINGS = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: blue\n"


def _dag(tmp_path: Path, folder_name: str, cluster_yaml: str, dag_id: str, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / folder_name
    folder.mkdir()
    (folder / "cluster.yaml").write_text(cluster_yaml)
    dag_file = tmp_path / f"{dag_id}.py"
    dag_file.write_text(DAG_FILE.format(folder=str(folder), dag_id=dag_id))
    return load_dag(dag_file, dag_id, monkeypatch)


def test_encrypted_secret_reaches_the_cluster_and_nothing_else(
    airflow_home: Path,
    git_server,
    sandbox,
    mlflow_server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    age = AgeKey.new()
    regex = ("--encrypted-regex", "^(data|stringData)$")
    url = git_server.create_repo(
        "sops-repo",
        {
            "app/secret.yaml": encrypt(tmp_path, age, SECRET, "secret.yaml", *regex),
            "app/hook.env": encrypt(tmp_path, age, f"TOKEN={TOKEN}\n", "hook.env"),
            "app/settings.yaml": SETTINGS,
            "app/kustomization.yaml": "resources: [secret.yaml, settings.yaml]\n"
            "secretGenerator:\n- name: hook\n  envs: [hook.env]\n  options: {disableNameSuffixHash: true}\n",
        },
    )
    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
    namespace = "sops-apps"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    artifacts = tmp_path / "artifacts"
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_PATH", str(artifacts))
    use_cluster_connections(monkeypatch, git_server, sandbox)
    AirflowConnections(monkeypatch).mlflow("flux_mlflow_default", mlflow_server)
    monkeypatch.setenv(
        "AIRFLOW_CONN_SOPS-AGE", json.dumps({"conn_type": "generic", "password": age.identity})
    )
    events = CaptureServer(tmp_path / "capture" / "capture.log")
    notifications = tmp_path / "notifications"
    notifications.mkdir()
    (notifications / "alerts.yaml").write_text(NOTIFICATIONS.format(url=events.url))
    monkeypatch.setenv("AIRFLOW__FLUX__NOTIFICATIONS_PATH", str(notifications))
    dag = _dag(
        tmp_path, "clusters", CLUSTER.format(url=url, namespace=namespace), "sops_cluster", monkeypatch
    )

    task_events.BUS_LINK.close()  # an earlier dag.test() in this process built it for its own alerts
    try:
        run = dag.test()
    finally:
        events.stop()
        task_events.BUS_LINK.close()
    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
    live = cluster.get(ObjectKey("v1", "Secret", namespace, "db"))
    assert live is not None and base64.b64decode(live["data"]["password"]).decode() == PLAIN
    hook = cluster.get(ObjectKey("v1", "Secret", namespace, "hook"))
    assert hook is not None and base64.b64decode(hook["data"]["TOKEN"]).decode() == TOKEN
    render_ti = next(ti for ti in run.get_task_instances() if ti.task_id == "render_secrets")
    render_xcom = render_ti.xcom_pull(task_ids="render_secrets")
    assert render_xcom["sealed"] is True, render_xcom

    forbidden = [s.encode() for s in (PLAIN, TOKEN, age.identity.split()[-1])]
    forbidden += [base64.b64encode(s.encode()) for s in (PLAIN, TOKEN)]
    logs = capfd.readouterr()
    texts = [logs.out.encode(), logs.err.encode(), caplog.text.encode(), json.dumps(render_xcom).encode()]
    files = [
        p
        for root in (artifacts, airflow_home / "logs")
        if root.exists()
        for p in root.rglob("*")
        if p.is_file()
    ]
    assert files, "the run left its artifacts and logs to check"
    posted = [request.body for request in events.take()]
    assert any(b"secrets" in body for body in posted), "the Kustomization's events were posted"
    recorded = _mlflow_records(MlflowClient(mlflow_server.tracking_uri), tmp_path / "mlflow")
    assert recorded, "the run was recorded in MLflow"
    for blob in [*texts, *(p.read_bytes() for p in files), *posted, *recorded]:
        assert not any(secret in blob for secret in forbidden)

    # The wrong key: the render fails naming the file and its recipient; nothing is applied.
    other = "sops-wrong"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}})
    monkeypatch.setenv(
        "AIRFLOW_CONN_SOPS-AGE", json.dumps({"conn_type": "generic", "password": AgeKey.new().identity})
    )
    wrong = _dag(tmp_path, "wrong", CLUSTER.format(url=url, namespace=other), "sops_wrong_key", monkeypatch)
    run = wrong.test()
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed" and states["render_secrets"] == "failed", states
    logs = capfd.readouterr()
    assert "cannot decrypt app/" in logs.out + logs.err + caplog.text
    assert age.recipient in logs.out + logs.err + caplog.text
    for name in ("db", "hook"):
        assert cluster.get(ObjectKey("v1", "Secret", other, name)) is None
    assert cluster.get(ObjectKey("v1", "ConfigMap", other, "settings")) is None


def _mlflow_records(client: MlflowClient, downloads: Path) -> list[bytes]:
    """Every param, tag and metric of every MLflow run, and the bytes of every artifact."""
    records: list[bytes] = []
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id]):
            data = run.data
            records.append(json.dumps([data.params, data.tags, data.metrics]).encode())
            target = downloads / run.info.run_id
            target.mkdir(parents=True)
            client.download_artifacts(run.info.run_id, "", str(target))
            records += [p.read_bytes() for p in target.rglob("*") if p.is_file()]
    return records


def test_keys_come_from_the_cluster_secret_without_a_connection(
    sandbox, sandbox_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flux reads the decryption Secret in the Kustomization's namespace: its *.agekey entries."""
    from airflow_flux_provider.operators.kustomize import decryption_keys
    from tests.kustomize.conftest import kustomization

    age = AgeKey.new()
    monkeypatch.setenv(
        "AIRFLOW_CONN_KUBERNETES_DEFAULT",
        json.dumps({"conn_type": "kubernetes", "extra": {"kube_config_path": str(sandbox.kubeconfig)}}),
    )
    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
    data = {"age.agekey": base64.b64encode(age.identity.encode()).decode(), "other": "eA=="}
    meta = {"name": "cluster-sops", "namespace": sandbox_namespace}
    cluster.apply({"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": data})
    ks = kustomization(
        namespace=sandbox_namespace, decryption={"provider": "sops", "secretRef": {"name": "cluster-sops"}}
    )
    keys = decryption_keys(ks, "kubernetes_default")
    assert keys.age_identities == (age.identity.split()[-1],)
    assert "AGE-SECRET-KEY" not in repr(keys)
