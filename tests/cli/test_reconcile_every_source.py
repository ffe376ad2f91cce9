"""``reconcile -f`` on a folder with every source kind and HelmReleases (issue 17.11): a chart from
Git, from an HTTP and an OCI HelmRepository and from an OCIRepository, a Kustomization built from
a Bucket; a broken source fails only what is built from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from airflow_flux_provider.kube import Cluster, ObjectKey
from tests.cli.conftest import run_reconcile

CHART = {
    "charts/site/Chart.yaml": "apiVersion: v2\nname: site\nversion: 2.1.0\n",
    "charts/site/values.yaml": "greeting: hello\n",
    "charts/site/templates/configmap.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-site\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"
    ),
}
BUCKET_CONFIG = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-bucket\ndata:\n  origin: s3\n"


def _objects(
    ns: str, git_url: str, chart_url: str, registry: str, s3_endpoint: str, bucket: str
) -> list[Any]:
    def source(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        meta = {"name": name, "namespace": "flux-system"}
        return {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": kind, "metadata": meta, "spec": spec}

    def release(name: str, spec: dict[str, Any]) -> dict[str, Any]:
        meta = {"name": name, "namespace": ns}
        body = {"interval": "5m", "timeout": "60s", **spec}
        return {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": meta,
            "spec": body,
        }

    def chart(name: str, kind: str, source_name: str, version: str = "*") -> dict[str, Any]:
        ref = {"kind": kind, "name": source_name, "namespace": "flux-system"}
        return {"chart": {"spec": {"chart": name, "version": version, "sourceRef": ref}}}

    registry_auth = {"secretRef": {"name": "registry"}, "insecure": True}
    return [
        source("GitRepository", "charts", {"interval": "1m", "url": git_url, "ref": {"branch": "main"},
                                           "secretRef": {"name": "git"}}),
        source("GitRepository", "broken", {"interval": "1m", "url": f"{git_url}-missing",
                                           "ref": {"branch": "main"}, "secretRef": {"name": "git"}}),
        source("HelmRepository", "http", {"interval": "1m", "url": chart_url}),
        source("HelmRepository", "oci", {"interval": "1m", "type": "oci",
                                         "url": f"oci://{registry}/cli-charts", **registry_auth}),
        source("OCIRepository", "packaged", {
            "interval": "1m", "url": f"oci://{registry}/cli-charts/cli-packaged", "ref": {"tag": "0.3.0"},
            "layerSelector": {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                              "operation": "copy"}, **registry_auth}),
        source("Bucket", "models", {"interval": "1m", "bucketName": bucket, "endpoint": s3_endpoint,
                                    "insecure": True, "secretRef": {"name": "s3"}}),
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {"name": "from-bucket", "namespace": "flux-system"},
         "spec": {"interval": "5m", "path": "./", "prune": True, "targetNamespace": ns,
                  "sourceRef": {"kind": "Bucket", "name": "models"}}},
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {"name": "from-broken", "namespace": "flux-system"},
         "spec": {"interval": "5m", "path": "./", "prune": True, "targetNamespace": ns,
                  "sourceRef": {"kind": "GitRepository", "name": "broken"}}},
        release("from-git", {**chart("./charts/site", "GitRepository", "charts"),
                             "values": {"greeting": "from git"}, "dependsOn": [{"name": "from-http"}]}),
        release("from-http", chart("cli-http", "HelmRepository", "http", "1.x")),
        release("from-oci", chart("cli-oci", "HelmRepository", "oci", ">=0.1")),
        release("packaged", {"chartRef": {"kind": "OCIRepository", "name": "packaged",
                                          "namespace": "flux-system"}}),
    ]  # fmt: skip


def test_every_source_kind_and_helm_releases(
    git_server: Any,
    chart_repo: Any,
    oci_registry: Any,
    s3_server: Any,
    sandbox: Any,
    sandbox_namespace: str,
    tmp_path: Path,
) -> None:
    ns = sandbox_namespace
    git_url = git_server.create_repo(f"cli-{ns}", CHART)
    chart_repo.add_chart("cli-http", "1.4.0", values={"message": "from http"})
    oci_registry.push_chart("cli-charts", chart_repo.add_chart("cli-oci", "0.2.0", values={"message": "oci"}))
    oci_registry.push_chart("cli-charts", chart_repo.add_chart("cli-packaged", "0.3.0"))
    bucket = s3_server.create_bucket(f"cli-{ns}"[:60], {"config.yaml": BUCKET_CONFIG})
    folder = tmp_path / "cluster"
    folder.mkdir()
    endpoint = s3_server.endpoint.removeprefix("http://")
    objects = _objects(ns, git_url, chart_repo.url, oci_registry.host, endpoint, bucket)
    (folder / "all.yaml").write_text(yaml.safe_dump_all(objects))
    args = [
        "-f", str(folder), "--kubeconfig", str(sandbox.kubeconfig),
        "--secret", f"git={git_server.username}:{git_server.password}",
        "--secret", f"registry={oci_registry.username}:{oci_registry.password}",
        "--secret", f"s3={s3_server.access_key}:{s3_server.secret_key}",
    ]  # fmt: skip

    first = run_reconcile(*args)
    out, err = first.stdout, first.stderr
    assert first.returncode == 1, out + err  # the broken source fails its Kustomization, nothing else
    assert "✗ GitRepository/flux-system/broken" in err
    assert "✗ Kustomization/flux-system/from-broken not Ready: " in err
    assert "source GitRepository/flux-system/broken is not ready" in err
    assert err.count("✗") == 2, err
    for source in ("GitRepository/flux-system/charts", "HelmRepository/flux-system/http",
                   "OCIRepository/flux-system/packaged", "Bucket/flux-system/models"):  # fmt: skip
        assert f"► {source} fetched revision " in out
    assert "► HelmRepository/flux-system/oci is an OCI repository" in out
    assert "✔ Kustomization/flux-system/from-bucket Ready: Applied revision: sha256:" in out
    assert f"► HelmChart/flux-system/{ns}-from-http packaged chart version 1.4.0" in out
    for name in ("from-git", "from-http", "from-oci", "packaged"):
        assert f"► HelmRelease/{ns}/{name} install" in out
        assert f"✔ HelmRelease/{ns}/{name} Ready: Helm release {ns}/{name}.v1 is in sync" in out
    assert out.index(f"✔ HelmRelease/{ns}/from-http Ready") < out.index(f"✔ HelmRelease/{ns}/from-git Ready")

    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))

    def data(name: str) -> dict[str, str]:
        found = cluster.get(ObjectKey("v1", "ConfigMap", ns, name))
        assert found is not None, name
        return dict(found["data"])

    assert data("from-bucket") == {"origin": "s3"}
    assert data("from-git-site") == {"greeting": "from git"}
    assert data("from-http-cli-http") == {"chartVersion": "1.4.0", "message": "from http"}
    assert data("from-oci-cli-oci")["chartVersion"] == "0.2.0"
    assert data("packaged-cli-packaged")["chartVersion"] == "0.3.0"

    second = run_reconcile(*args)
    assert second.returncode == 1
    assert " install" not in second.stdout and " upgrade" not in second.stdout
    for name in ("from-git", "from-http", "from-oci", "packaged"):
        assert f"✔ HelmRelease/{ns}/{name} Ready" in second.stdout
