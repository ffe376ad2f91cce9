"""A small chart (Deployment, ConfigMap, test hook, values schema) and a reconcile helper."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_flux_provider import events
from airflow_flux_provider.helm.chart import load_chart
from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.helm.release import ReleaseOutcome, ReleaseReconciler
from airflow_flux_provider.helm.values import compose_values
from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.specs import HelmRelease, parse_object

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
      - name: web
        image: {{ .Values.image }}
"""
CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  message: {{ .Values.message | quote }}
"""
TEST_POD = """apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-smoke
  annotations:
    "helm.sh/hook": test
spec:
  restartPolicy: Never
  containers:
  - name: smoke
    image: {{ .Values.testImage }}
"""
SCHEMA = {
    "$schema": "https://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {"replicas": {"type": "integer", "minimum": 0}},
}


@pytest.fixture(scope="session")
def chart_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("helm-charts") / "web"
    (root / "templates" / "tests").mkdir(parents=True)
    (root / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 1.2.0\nappVersion: '2.0'\n")
    (root / "values.yaml").write_text(
        "replicas: 1\nimage: nginx:1.27\ntestImage: busybox:1.36\nmessage: hello\n"
    )
    (root / "values-prod.yaml").write_text("replicas: 2\nmessage: from-values-file\n")
    (root / "values.schema.json").write_text(json.dumps(SCHEMA))
    (root / "templates" / "deployment.yaml").write_text(DEPLOYMENT)
    (root / "templates" / "configmap.yaml").write_text(CONFIGMAP)
    (root / "templates" / "tests" / "smoke.yaml").write_text(TEST_POD)
    return root


@pytest.fixture
def cluster(sandbox: Any) -> Cluster:
    return Cluster.from_kubeconfig(str(sandbox.kubeconfig), backoff_seconds=0.05)


@pytest.fixture
def cli(cluster: Cluster) -> Iterator[HelmCli]:
    with HelmCli(cluster) as helm:
        yield helm


@pytest.fixture
def emitted() -> Iterator[list[events.Event]]:
    seen: list[events.Event] = []
    unsubscribe = events.subscribe(seen.append)
    yield seen
    unsubscribe()


def helm_release(namespace: str, spec: dict[str, Any], name: str = "web") -> HelmRelease:
    base: dict[str, Any] = {
        "interval": "10m",
        "timeout": "60s",
        "chart": {"spec": {"chart": "web", "sourceRef": {"kind": "HelmRepository", "name": "local"}}},
    }
    hr = parse_object({
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": namespace}, "spec": {**base, **spec},
    })  # fmt: skip
    assert isinstance(hr, HelmRelease)
    return hr


def reconcile(
    hr: HelmRelease, chart: Path | str, cli: HelmCli, cluster: Cluster, **overrides: Any
) -> ReleaseOutcome:
    assert hr.spec.chart is not None
    loaded = load_chart(str(chart), obj=hr.ref, constraint=hr.spec.chart.spec.version)
    files = loaded.values_files(hr.spec.chart.spec.values_files, ignore_missing=False, obj=hr.ref)
    values = compose_values(hr, cluster, values_files=files, overrides=overrides or None)
    return ReleaseReconciler(hr, loaded, values, cli, cluster).reconcile()


@pytest.fixture(scope="session")
def strict_chart(tmp_path_factory: pytest.TempPathFactory, chart_dir: Path) -> Path:
    """The web chart plus a template that fails with a value in its message (``explode``)."""
    root = tmp_path_factory.mktemp("helm-strict") / "web"
    root.mkdir()
    for path in chart_dir.rglob("*"):
        if path.is_file():
            target = root / path.relative_to(chart_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    (root / "templates" / "guard.yaml").write_text(
        '{{- if .Values.explode }}{{ fail (printf "refusing value %s" .Values.explode) }}{{- end }}\n'
    )
    return root


@pytest.fixture
def crd_plural(sandbox_namespace: str, cluster: Cluster) -> Iterator[str]:
    """A CRD plural named after the test's namespace; the definition is deleted after the test even
    when it fails (cluster-scoped: a rerun of the test, as the mutation runner does, must not meet it)."""
    plural = f"w{sandbox_namespace.split('-')[0]}gadgets"
    yield plural
    cluster.delete(
        ObjectKey("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", f"{plural}.example.com")
    )


SEED_TEMPLATES = {  # a local stand-in of the seed's MLflow chart
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


@pytest.fixture(scope="session")
def mlflow_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("seed-chart") / "mlflow"
    (root / "templates" / "tests").mkdir(parents=True)
    (root / "Chart.yaml").write_text("apiVersion: v2\nname: mlflow\nversion: 0.7.19\nappVersion: 2.8.1\n")
    (root / "values.yaml").write_text(
        "image: {repository: mlflow, tag: latest}\nservice: {type: ClusterIP, port: 5000}\nresources: {}\n"
        "s3: {enabled: false, bucket: ''}\n"
    )
    for name, text in SEED_TEMPLATES.items():
        (root / "templates" / name).write_text(text)
    return root
