"""Session-wide canary fixtures (a plugin of ``tests/conftest.py``): the routing CRDs in the sandbox,
a webhook server, and one canary rolled out under the session's live Airflow.

The rollout is shared by the test files that read it (the canary's steps under the triggerer,
the Flux view in a browser): promoting a canary step by step under a scheduler takes minutes on
a loaded 2-core machine, so the suite does it once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_flux_provider.kube import Cluster
from flux_devkit.services.airflow_scheduler import AirflowScheduler
from flux_devkit.services.mlflow_server import MlflowServer
from flux_devkit.services.prometheus import PrometheusServer
from tests.canary.conftest import WebhookServer, canary_manifest, deployment
from tests.canary.test_analysis import healthy_traffic
from tests.canary.test_operator import set_image

ROUTING_CRDS = Path(__file__).with_name("routing-crds.yaml")
#: the source revision both Kustomizations of the rollout's DAG report
REVISION = "main@sha1:" + "b" * 40
ROLLOUT_DAG = """
from airflow.sdk import DAG

from airflow_flux_provider.operators.canary import CanaryAnalysisOperator
from airflow_flux_provider.operators.reconcile import KustomizationReconcileOperator


def spec(name, *depends_on):
    return {{"interval": "10m", "prune": True, "timeout": "60s", "path": f"./{{name}}",
            "sourceRef": {{"kind": "GitRepository", "name": "fleet"}},
            "dependsOn": [{{"name": d}} for d in depends_on]}}


with DAG({dag_id!r}, schedule=None, catchup=False):
    infra = KustomizationReconcileOperator(
        task_id="infra", name="infra", namespace={ns!r}, spec=spec("infra"), rendered={infra!r},
        revision={revision!r}, mlflow_conn_id={mlflow!r})
    apps = KustomizationReconcileOperator(
        task_id="apps", name="apps", namespace={ns!r}, spec=spec("apps", "infra"), rendered={apps!r},
        revision={revision!r}, depends_on_revisions={{"infra": {revision!r}}}, mlflow_conn_id={mlflow!r})
    analyse = CanaryAnalysisOperator(task_id="analyse", manifest={canary!r}, mlflow_conn_id={mlflow!r})
    infra >> apps >> analyse
"""


@pytest.fixture(scope="session")
def webhooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebhookServer]:
    server = WebhookServer(tmp_path_factory.mktemp("webhooks") / "webhooks.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def canary_cluster(sandbox: Any) -> Cluster:
    """A Cluster on the sandbox (which serves the Flagger CRDs) with the HTTPRoute and Istio CRDs applied."""
    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig), backoff_seconds=0.05)
    for doc in yaml.safe_load_all(ROUTING_CRDS.read_text()):
        cluster.apply(doc, force=True)
    cluster.forget_discovery()
    return cluster


@dataclass(frozen=True)
class ScheduledRollout:
    """A DAG that reconciles ``infra``, then ``apps`` (dependsOn ``infra``), then analyses the Canary
    ``podinfo``, each analysis step deferred to the triggerer; run twice."""

    namespace: str
    dag_id: str
    initialized: str  #: the first run: the Canary initialised, podinfo:1.0 primary
    promoted: str  #: the second run: podinfo:2.0 promoted step by step


def _config_map(namespace: str, name: str) -> str:
    metadata = {"name": name, "namespace": namespace}
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"a": "1"}})


@pytest.fixture(scope="session")
def scheduled_rollout(
    airflow_scheduler: AirflowScheduler,
    canary_cluster: Cluster,
    sandbox: Any,
    prometheus: PrometheusServer,
    webhooks: WebhookServer,
    mlflow_server: MlflowServer,
) -> Iterator[ScheduledRollout]:
    ns = "flux-view"  # the namespace the README's screenshots of the Flux view show
    sandbox.kubectl("create", "namespace", ns)
    connection = {
        "connection_id": "view-mlflow",
        "conn_type": "flux_mlflow",
        "host": mlflow_server.tracking_uri,
    }
    airflow_scheduler.api.api("POST", "/connections", json=connection).raise_for_status()
    canary_cluster.apply(deployment(ns, "podinfo", "podinfo:1.0"), force=True)
    canary = canary_manifest(ns, "podinfo", prometheus=prometheus.url, hooks=f"{webhooks.url}/{ns}")
    dag_id = "flux_view_rollout"
    source = ROLLOUT_DAG.format(dag_id=dag_id, ns=ns, infra=_config_map(ns, "infra-settings"),
                                apps=_config_map(ns, "app-settings"), revision=REVISION, canary=canary,
                                mlflow="view-mlflow")  # fmt: skip
    (airflow_scheduler.dags_folder / f"{dag_id}.py").write_text(source)
    airflow_scheduler.wait_for_dag(dag_id)
    first = airflow_scheduler.trigger(dag_id)
    assert airflow_scheduler.wait_for_run(dag_id, first) == "success", airflow_scheduler.task_states(
        dag_id, first
    )
    healthy_traffic(prometheus, ns)
    set_image(canary_cluster, ns, "podinfo:2.0")
    second = airflow_scheduler.trigger(dag_id)
    state = airflow_scheduler.wait_for_run(dag_id, second, timeout=600)
    assert state == "success", airflow_scheduler.task_states(dag_id, second)
    yield ScheduledRollout(ns, dag_id, first, second)
    sandbox.kubectl("delete", "namespace", ns, "--wait=false", check=False)
