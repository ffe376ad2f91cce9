"""The image automation DAG runs end to end with ``dag.test()`` on the local registry and Git server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

from flux_devkit.services.git_http import GitServer
from flux_devkit.services.registry import OciRegistry

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
    tmp_path: Path,
) -> None:
    for tag in ("v1.0.0", "v1.3.0", "v2.0.0"):
        oci_registry.push_image("dag-example/ml-training", tag)
    url = git_server.create_repo("dag-example-gitops", {f"{OVERLAY}/deployment.yaml": DEPLOYMENT})
    registry = {
        "conn_type": "flux_registry",
        "login": oci_registry.username,
        "password": oci_registry.password,
    }
    git = {"conn_type": "flux_git", "login": git_server.username, "password": git_server.password}
    monkeypatch.setenv("AIRFLOW_CONN_GHCR-CREDENTIALS", json.dumps(registry))
    monkeypatch.setenv("AIRFLOW_CONN_ML-GITOPS", json.dumps(git))
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
