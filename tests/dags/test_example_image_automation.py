"""The image automation DAG runs end to end with ``dag.test()`` on the local registry and Git server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

from flux_devkit.services.git_http import GitServer
from flux_devkit.services.registry import OciRegistry
from tests.services.connections import AirflowConnections

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "example_image_automation.py"
OVERLAY = "apps/ml-training/overlays/production"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ml-trainer
spec:
  template:
    spec:
      containers:
      - name: trainer
        image: ghcr.io/company/ml-training:v1.0.0  # {"$imagepolicy": "flux-system:ml-training"}
        # Flux will automatically update the tag based on policy
"""


def test_image_automation_dag(
    airflow_home: Path,
    oci_registry: OciRegistry,
    git_server: GitServer,
    monkeypatch: pytest.MonkeyPatch,
    airflow_connections: AirflowConnections,
    tmp_path: Path,
) -> None:
    for tag in ("v1.0.0", "v1.3.0", "v2.0.0"):
        oci_registry.push_image("dag-example/ml-training", tag)
    url = git_server.create_repo("dag-example-gitops", {f"{OVERLAY}/deployment.yaml": DEPLOYMENT})
    airflow_connections.registry("ghcr-credentials", oci_registry)  # the seed's secretRef
    airflow_connections.git("ml-gitops", git_server)
    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_PATH", str(tmp_path / "artifacts"))

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    dag = bag.dags["example_image_automation"]
    image = f"{oci_registry.host}/dag-example/ml-training"
    run = dag.test(run_conf={"image": image, "insecure": True, "git_url": url, "last_tag": "v1.0.0"})
    assert run.state == "success"
    update = next(ti for ti in run.get_task_instances() if ti.task_id == "update")
    result = update.xcom_pull(task_ids="update")
    assert result["files"] == ["deployment.yaml"]
    assert result["message"].endswith(f"Images:\n- {image}:v1.3.0\n")
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "--quiet", git_server.auth_url("dag-example-gitops"), str(clone)], check=True
    )
    assert f"image: {image}:v1.3.0  #" in (clone / OVERLAY / "deployment.yaml").read_text()
