"""The seed's MLflow HelmRelease, exactly as written, against a local stand-in of its chart."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.specs import HelmRelease, parse_object
from tests.helm.conftest import reconcile
from tests.seed import first_object

TEMPLATES = {
    "deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: 1
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec:
      containers:
      - name: mlflow
        image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        resources: {{ toJson .Values.resources }}
        env:
        - {name: BUCKET, value: {{ .Values.s3.bucket | quote }}}
""",
    "service.yaml": """apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  type: {{ .Values.service.type }}
  selector: {app: {{ .Release.Name }}}
  ports: [{port: {{ .Values.service.port }}}]
""",
    "tests/connection.yaml": """apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test-connection
  annotations: {"helm.sh/hook": test}
spec:
  restartPolicy: Never
  containers: [{name: wget, image: busybox:1.36}]
""",
}


@pytest.fixture(scope="module")
def mlflow_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("seed-chart") / "mlflow"
    (root / "templates" / "tests").mkdir(parents=True)
    (root / "Chart.yaml").write_text("apiVersion: v2\nname: mlflow\nversion: 0.7.19\nappVersion: 2.8.1\n")
    (root / "values.yaml").write_text(
        "image: {repository: mlflow, tag: latest}\nservice: {type: ClusterIP, port: 5000}\nresources: {}\n"
        "s3: {enabled: false, bucket: ''}\n"
    )
    for name, text in TEMPLATES.items():
        (root / "templates" / name).write_text(text)
    return root


def test_seed_helm_release_installs_tests_and_patches(
    sandbox_namespace: str, mlflow_chart: Path, cli: HelmCli, cluster: Cluster
) -> None:
    manifest = first_object("HelmRelease")
    manifest["metadata"]["namespace"] = sandbox_namespace
    hr = parse_object(manifest)
    assert isinstance(hr, HelmRelease)
    assert hr.spec.install.remediation.retries == 3 and hr.spec.upgrade.remediation.remediate_last_failure

    outcome = reconcile(hr, mlflow_chart, cli, cluster)

    assert outcome.ready, outcome.message
    assert outcome.actions == ["install", "test"]
    assert (outcome.chart_name, outcome.chart_version) == ("mlflow", "0.7.19")
    live = cluster.get(ObjectKey("apps/v1", "Deployment", sandbox_namespace, "mlflow"))
    assert live is not None
    template = live["spec"]["template"]
    assert template["metadata"]["annotations"] == {"fluxcd.io/automated": "true"}  # the post-renderer patch
    container = template["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/mlflow/mlflow:v2.8.1"
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}  # 1000m, as a server stores it
    assert reconcile(hr, mlflow_chart, cli, cluster).actions == []
