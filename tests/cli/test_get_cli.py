"""After a reconcile the cluster looks like a Flux cluster: the real ``kubectl get`` prints Ready and
the revisions from the objects' printer columns, and ``get`` prints the table ``flux get`` does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from airflow_flux_provider.kube import Cluster
from airflow_flux_provider.specs import parse_object
from tests.canary.conftest import CanaryRun, deployment
from tests.cli.conftest import run_reconcile

CHART = {
    "charts/site/Chart.yaml": "apiVersion: v2\nname: site\nversion: 2.1.0\n",
    "charts/site/templates/configmap.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-site\ndata:\n  a: b\n"
    ),
}


def _get(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "airflow_flux_provider", "get", *args],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def _canary(ns: str) -> dict[str, Any]:
    meta = {"name": "web", "namespace": ns}
    return {"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "metadata": meta,
            "spec": {"provider": "kubernetes", "progressDeadlineSeconds": 60, "service": {"port": 8080},
                     "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "analysis": {"interval": "10s", "threshold": 2, "iterations": 2}}}  # fmt: skip


def _cluster_folder(ns: str, url: str) -> list[dict[str, Any]]:
    meta = {"name": ns, "namespace": "flux-system"}
    return [
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository", "metadata": meta,
         "spec": {"interval": "1m", "url": url, "ref": {"branch": "main"}, "secretRef": {"name": "git"}}},
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": meta,
         "spec": {"interval": "5m", "path": "./apps", "prune": True, "targetNamespace": ns,
                  "sourceRef": {"kind": "GitRepository", "name": ns}}},
        {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
         "metadata": {"name": "site", "namespace": ns},
         "spec": {"interval": "5m", "chart": {"spec": {"chart": "./charts/site", "sourceRef": {
             "kind": "GitRepository", "name": ns, "namespace": "flux-system"}}}}},
    ]  # fmt: skip


def test_kubectl_and_get_show_ready_objects_with_their_revisions(
    git_server: Any, sandbox: Any, sandbox_namespace: str, tmp_path: Path
) -> None:
    ns = sandbox_namespace
    apps = {"apps/deployment.yaml": yaml.safe_dump(deployment(ns, "web", "ghcr.io/company/web:1.0.0")),
            "apps/canary.yaml": yaml.safe_dump(_canary(ns))}  # fmt: skip
    url = git_server.create_repo(f"get-{ns}", {**CHART, **apps})
    folder = tmp_path / "cluster"
    folder.mkdir()
    (folder / "all.yaml").write_text(yaml.safe_dump_all(_cluster_folder(ns, url)))
    kubeconfig = str(sandbox.kubeconfig)
    result = run_reconcile("-f", str(folder), "--kubeconfig", kubeconfig,
                           "--secret", f"git={git_server.username}:{git_server.password}")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    revision = next(line.split()[-1] for line in result.stdout.splitlines() if "fetched revision" in line)
    cluster = Cluster.from_kubeconfig(kubeconfig, backoff_seconds=0.05)
    CanaryRun(cluster, parse_object(_canary(ns))).until(lambda r: r.status.phase == "Initialized")

    shown = sandbox.kubectl("get", "kustomizations,helmreleases,gitrepositories,canaries", "-A").stdout
    rows = {line.split()[1]: line for line in shown.splitlines() if ns in line}
    ks, hr = (
        rows[f"kustomization.kustomize.toolkit.fluxcd.io/{ns}"],
        rows["helmrelease.helm.toolkit.fluxcd.io/site"],
    )
    assert ks.split()[3:] == ["True", "Applied", "revision:", revision], shown
    assert hr.split()[3] == "True" and hr.endswith("is in sync with chart site@2.1.0")
    repo = rows[f"gitrepository.source.toolkit.fluxcd.io/{ns}"]
    assert "True" in repo.split() and repo.endswith(f"stored artifact for revision '{revision}'")
    assert rows["canary.flagger.app/web"].split()[2:4] == ["Initialized", "0"]

    table = _get("kustomizations", "-n", "flux-system", "--kubeconfig", kubeconfig)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
    short = revision[: revision.index(":") + 9]  # main@sha1:<8 hex digits>, as flux get cuts hashes
    # columns are padded to the longest cell, which other tests' Kustomizations may set
    assert [ns, short, "False", "True", "Applied", "revision:", short] in [line.split() for line in lines]
    every = _get("helmreleases", "-A", "--kubeconfig", kubeconfig).stdout.splitlines()
    assert every[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert [line.split()[:5] for line in every if line.startswith(ns)] == [
        [ns, "site", "2.1.0", "False", "True"]
    ]
    sources = _get("sources", "-n", "flux-system", "--kubeconfig", kubeconfig).stdout
    assert f"gitrepository/{ns}" in sources and f"stored artifact for revision '{short}'" in sources
    canaries = _get("canaries", "-n", ns, "--kubeconfig", kubeconfig).stdout.splitlines()
    assert canaries[1].split()[:5] == ["web", "Initialized", "0%", "False", "True"]
