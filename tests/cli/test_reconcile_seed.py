"""The lecture's repository layout reconciled with the CLI, as Flux would: twice (the second run
writes nothing), then an object removed from Git is pruned, then a broken image fails health.
Its MLflow HelmRelease is installed and tested from the chart in Git."""

from __future__ import annotations

import base64
from pathlib import Path

from airflow_flux_provider.kube import Cluster, ObjectKey
from flux_devkit.demo.environment import GITOPS_TEMPLATE, SOPS_AGE_KEY, TRAINING_IMAGE, gitops_files
from tests.cli.conftest import run_reconcile

OVERLAY = "apps/ml-training/overlays/production/kustomization.yaml"
SERVING = "apps/ml-serving/base/deployment.yaml"


def test_seed_layout_reconcile_prune_and_health(git_server, oci_registry, sandbox, tmp_path: Path):
    for tag in ("v1.0.0", "1.0.1", "1.1.0", "2.0.0"):
        oci_registry.push_image(TRAINING_IMAGE, tag)
    files = gitops_files(oci_registry.host)
    url = git_server.create_repo("seed-layout", files)
    args = [
        "-f", str(GITOPS_TEMPLATE / "clusters/production"),
        "--kubeconfig", str(sandbox.kubeconfig),
        "--var", f"GITOPS_URL={url}", "--var", f"REGISTRY_HOST={oci_registry.host}",
        "--var", "EXPERIMENT_ID=seed", "--var", "LEARNING_RATE=0.01",
        "--var", "BATCH_SIZE=32", "--var", "EPOCHS=3",
        "--secret", f"git-credentials={git_server.username}:{git_server.password}",
        "--secret", f"ghcr-credentials={oci_registry.username}:{oci_registry.password}",
    ]  # fmt: skip
    # ml-training decrypts the SOPS-encrypted secrets.env with the Secret Flux users create
    # (kubectl create secret generic sops-age --from-file=age.agekey=…)
    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}})
    key = base64.b64encode(SOPS_AGE_KEY.read_bytes()).decode()
    meta = {"name": "sops-age", "namespace": "flux-system"}
    cluster.apply({"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": {"age.agekey": key}})
    first = run_reconcile(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    for name in ("ml-infrastructure", "ml-training", "ml-serving", "ml-training-pipeline"):
        assert f"✔ Kustomization/flux-system/{name} Ready: Applied revision: main@sha1:" in first.stdout
    assert "► ImagePolicy flux-system:ml-training chose" in first.stdout
    assert "► HelmChart/flux-system/mlflow-mlflow packaged chart version 0.7.19" in first.stdout
    assert "► HelmRelease/mlflow/mlflow install" in first.stdout
    assert "► HelmRelease/mlflow/mlflow test" in first.stdout
    assert "✔ HelmRelease/mlflow/mlflow Ready: Helm release mlflow/mlflow.v1 is in sync" in first.stdout
    trainer = cluster.get(ObjectKey("apps/v1", "Deployment", "ml-training-prod", "ml-trainer"))
    assert trainer["spec"]["template"]["spec"]["containers"][0]["image"].endswith(
        "/company/ml-training:1.1.0"
    )

    sandbox.counters.reset()
    second = run_reconcile(*args)
    assert second.returncode == 0, second.stderr[-3000:]
    changed = [line for line in second.stdout.splitlines() if line.endswith((" created", " configured"))]
    assert changed == []
    assert "✔ HelmRelease/mlflow/mlflow Ready" in second.stdout and " install" not in second.stdout
    # nothing written but the Kustomizations' Leases, taken and given back: dry-runs only
    assert sandbox.counters.mutating(besides=("leases",)) == 0, sandbox.counters.snapshot()

    overlay = files[OVERLAY].replace("  - pdb.yaml\n", "")
    git_server.commit("seed-layout", {OVERLAY: overlay}, message="drop the PDB",
                      delete=["apps/ml-training/overlays/production/pdb.yaml"])  # fmt: skip
    third = run_reconcile(*args)
    assert third.returncode == 0, third.stderr[-3000:]
    assert "► PodDisruptionBudget/ml-training-prod/ml-trainer deleted" in third.stdout
    assert (
        cluster.get(ObjectKey("policy/v1", "PodDisruptionBudget", "ml-training-prod", "ml-trainer")) is None
    )

    broken = files[SERVING].replace("/company/ml-serving:1.0.0", "/company/ml-serving:fail")
    assert broken != files[SERVING]  # the image the sandbox fails to start
    git_server.commit("seed-layout", {SERVING: broken}, message="a broken image")
    fourth = run_reconcile(*args, "--timeout", "60s")
    assert fourth.returncode == 1
    assert "✗ Kustomization/flux-system/ml-serving not Ready" in fourth.stderr
    assert "Deployment/ml-serving/ml-serving status: 'Failed'" in fourth.stderr
    assert "ProgressDeadlineExceeded" in fourth.stderr
