"""``python -m airflow_flux_provider reconcile``: a cluster folder into the sandbox without a scheduler."""

from __future__ import annotations

from pathlib import Path

from airflow_flux_provider.kube import Cluster, ObjectKey
from tests.cli.conftest import run_reconcile
from tests.dags.test_dag_factory import CLUSTER, REPO


def test_reconcile_cli_applies_in_order_then_changes_nothing(git_server, sandbox, tmp_path: Path):
    url = git_server.create_repo("cli-repo", REPO)
    folder = tmp_path / "clusters"
    folder.mkdir()
    (folder / "cluster.yaml").write_text(
        CLUSTER.replace("factory-repo", "cli-repo").replace("factory-apps", "cli-apps")
    )
    git_server.commit("cli-repo", {p: c.replace("factory-apps", "cli-apps") for p, c in REPO.items()})
    secret = f"git-credentials={git_server.username}:{git_server.password}"
    args = ["-f", str(folder), "--kubeconfig", str(sandbox.kubeconfig), "--var", f"GIT_URL={url}",
            "--var", "REPLICAS=2", "--secret", secret]  # fmt: skip

    first = run_reconcile(*args)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert any(
        line.startswith("► GitRepository/flux-system/cli-repo fetched revision main@sha1:") for line in lines
    )
    assert "► Namespace/cli-apps created" in lines
    assert "► Deployment/cli-apps/web created" in lines
    assert lines.index(
        "✔ Kustomization/flux-system/infra Ready: Applied revision: " + lines[0].split()[-1]
    ) < (lines.index("► Deployment/cli-apps/web created"))
    deployment = Cluster.from_kubeconfig(str(sandbox.kubeconfig)).get(
        ObjectKey("apps/v1", "Deployment", "cli-apps", "web")
    )
    assert deployment["spec"]["replicas"] == 2

    second = run_reconcile(*args)
    assert second.returncode == 0, second.stderr
    assert "► Deployment/cli-apps/web unchanged" in second.stdout.splitlines()
    assert " created" not in second.stdout and " configured" not in second.stdout


def test_missing_variable_and_credentials_are_clear_errors(sandbox, tmp_path: Path):
    folder = tmp_path / "clusters"
    folder.mkdir()
    (folder / "cluster.yaml").write_text(CLUSTER)
    result = run_reconcile("-f", str(folder), "--kubeconfig", str(sandbox.kubeconfig))
    assert result.returncode == 1
    assert (
        "GitRepository/flux-system/factory-repo: placeholder ${GIT_URL} has no value; "
        "set it with --var or the environment" in result.stderr
    )
    result = run_reconcile(
        "-f", str(folder), "--kubeconfig", str(sandbox.kubeconfig), "--var", "GIT_URL=http://x/y"
    )
    assert result.returncode == 1
    assert "pass its credentials with --secret git-credentials=USER:PASSWORD" in result.stderr
