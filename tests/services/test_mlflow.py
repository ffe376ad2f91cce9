"""The mlflow_server fixture is a real tracking server: runs logged through it can be read back."""

from __future__ import annotations

from pathlib import Path

from mlflow.tracking import MlflowClient

from flux_devkit.services.mlflow_server import MlflowServer


def test_log_and_read_a_run(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=mlflow_server.tracking_uri)
    experiment = client.create_experiment("services-check")
    run = client.create_run(experiment, tags={"flux.revision": "main@sha1:abc"})
    client.log_param(run.info.run_id, "image", "podinfo:6.5.1")
    client.log_metric(run.info.run_id, "success_rate", 99.5, step=1)
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text("kind: ConfigMap\n")
    client.log_artifact(run.info.run_id, str(manifest), artifact_path="manifests")
    client.set_terminated(run.info.run_id)

    got = client.get_run(run.info.run_id)
    assert got.data.params == {"image": "podinfo:6.5.1"}
    assert got.data.metrics == {"success_rate": 99.5}
    assert got.data.tags["flux.revision"] == "main@sha1:abc"
    assert got.info.status == "FINISHED"
    assert [a.path for a in client.list_artifacts(run.info.run_id, "manifests")] == [
        "manifests/rendered.yaml"
    ]
    stored = mlflow_server.artifacts_dir.rglob(f"{run.info.run_id}/**/rendered.yaml")  # others log one too
    assert [p.read_text() for p in stored] == ["kind: ConfigMap\n"]
