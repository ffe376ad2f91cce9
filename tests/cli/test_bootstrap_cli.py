"""``bootstrap`` twice on a fresh Git repository (with auth) and the sandbox: the first run lays out
the repository, pushes, installs the CRDs, applies the flux-system objects and writes the DAG
file; the second changes nothing and says so; a changed flag updates what it must."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_flux_provider.kube import Cluster, ObjectKey

GIT_KEY = ObjectKey("source.toolkit.fluxcd.io/v1", "GitRepository", "flux-system", "flux-system")
KS_KEY = ObjectKey("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", "flux-system")


def _bootstrap(*args: str, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "airflow_flux_provider", "bootstrap", *args],
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "GIT_PASSWORD": password})  # fmt: skip


def _head(git_server: Any, name: str) -> str:
    repo = git_server.repo_path(name)
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "refs/heads/main"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip


def _show(git_server: Any, name: str, path: str) -> str:
    repo = git_server.repo_path(name)
    return subprocess.run(["git", "-C", str(repo), "show", f"main:{path}"],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip


def test_bootstrap_twice_then_a_changed_flag(git_server: Any, sandbox: Any, tmp_path: Path) -> None:
    name = f"boot-{uuid.uuid4().hex[:6]}"
    url = git_server.create_repo(name)  # empty: no branch yet
    dags = tmp_path / "dags"
    args = ["--url", url, "--branch", "main", "--path", "clusters/staging",
            "--kubeconfig", str(sandbox.kubeconfig), "--dags-folder", str(dags),
            "--username", git_server.username]  # fmt: skip

    first = _bootstrap(*args, password=git_server.password)
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    for created in ("clusters/staging/flux-system/gotk-sync.yaml", "clusters/staging/infrastructure.yaml",
                    "clusters/staging/apps.yaml", "apps/kustomization.yaml",
                    "infrastructure/kustomization.yaml"):  # fmt: skip
        assert f"► created {created}" in out
    assert "► pushed commit '" in out and "► GitRepository/flux-system/flux-system created" in out
    assert "Airflow connection 'flux-system'" in out
    assert git_server.password not in out + first.stderr
    pushed = _head(git_server, name)
    sync = list(yaml.safe_load_all(_show(git_server, name, "clusters/staging/flux-system/gotk-sync.yaml")))
    assert [o["kind"] for o in sync] == ["GitRepository", "Kustomization"]
    assert sync[1]["spec"]["path"] == "./clusters/staging" and sync[0]["spec"]["secretRef"] == {
        "name": "flux-system"
    }
    apps = yaml.safe_load(_show(git_server, name, "clusters/staging/apps.yaml"))
    assert apps["spec"]["dependsOn"] == [{"name": "infrastructure"}]

    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
    source = cluster.get(GIT_KEY)
    assert source is not None and source["spec"]["url"] == url and source["spec"]["interval"] == "1m"
    assert cluster.get(KS_KEY) is not None
    dag_file = dags / "flux_staging.py"
    dag = runpy.run_path(str(dag_file))["dag"]  # the DAG factory over the copied cluster folder
    assert {"gitrepository_flux_system", "reconcile_flux_system", "reconcile_apps"} <= set(dag.task_ids)
    stamps = {p: p.stat().st_mtime_ns for p in dags.rglob("*") if p.is_file()}

    second = _bootstrap(*args, password=git_server.password)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "already holds the layout; nothing committed" in second.stdout
    assert "✔ bootstrap: nothing to do, everything is in place" in second.stdout
    assert "►" not in second.stdout, second.stdout
    assert _head(git_server, name) == pushed
    assert {p: p.stat().st_mtime_ns for p in dags.rglob("*") if p.is_file()} == stamps

    changed = _bootstrap(*[*args, "--interval", "5m"], password=git_server.password)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    lines = changed.stdout.splitlines()
    assert "► updated clusters/staging/flux-system/gotk-sync.yaml" in lines
    assert "► GitRepository/flux-system/flux-system configured" in lines
    assert not any("created" in line for line in lines)  # the user's files are left alone
    assert _head(git_server, name) != pushed
    live = cluster.get(GIT_KEY)
    assert live is not None and live["spec"]["interval"] == "5m"
    assert "interval: 5m" in (dags / "flux_staging" / "flux-system" / "gotk-sync.yaml").read_text()


def test_bootstrap_refuses_a_path_outside_the_repository(sandbox: Any, tmp_path: Path) -> None:
    result = _bootstrap("--url", "https://git.example/fleet", "--path", "../etc", "--kubeconfig",
                        str(sandbox.kubeconfig), "--dags-folder", str(tmp_path), password="")  # fmt: skip
    assert result.returncode == 1
    assert "--path '../etc' must be a folder inside the repository" in result.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("branch", ["main..x", "-rf"])
def test_bootstrap_refuses_a_bad_branch(sandbox: Any, tmp_path: Path, branch: str) -> None:
    result = _bootstrap("--url", "https://git.example/fleet", "--path", "clusters/x", f"--branch={branch}",
                        "--kubeconfig", str(sandbox.kubeconfig), password="")  # fmt: skip
    assert result.returncode == 1 and "is not a valid Git branch name" in result.stderr


def test_an_existing_apps_folder_is_left_as_it_is(git_server: Any, sandbox: Any, tmp_path: Path) -> None:
    name = f"boot-{uuid.uuid4().hex[:6]}"
    web = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: default}\n"
    url = git_server.create_repo(name, {"apps/web.yaml": web})
    result = _bootstrap("--url", url, "--path", "clusters/prod", "--kubeconfig", str(sandbox.kubeconfig),
                        "--dags-folder", str(tmp_path), "--username", git_server.username,
                        password=git_server.password)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "► created infrastructure/kustomization.yaml" in result.stdout
    assert "apps/kustomization.yaml" not in result.stdout  # Flux generates it for a folder without one
    assert _show(git_server, name, "apps/web.yaml") == web
