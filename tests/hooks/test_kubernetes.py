"""ClusterHook: the cluster comes from the named connection, never from the worker's own setup.

Every test runs with a worker that *has* a working kubeconfig (``$KUBECONFIG`` and
``~/.kube/config`` both point at the sandbox), so a fallback to it would be seen.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.helm.errors import HelmCommandError
from airflow_flux_provider.hooks.connections import ConnectionSetupError
from airflow_flux_provider.hooks.kubernetes import ClusterHook
from airflow_flux_provider.kube import Cluster, ForbiddenError, ObjectKey, service_account_user
from tests.services.connections import AirflowConnections

SECRET_TOKEN = "tok-3f1c9e0b7a5d4c2e"


@pytest.fixture
def worker_kubeconfig(monkeypatch: pytest.MonkeyPatch, sandbox: Any, tmp_path: Path) -> Path:
    """A worker whose default kubeconfig reaches the sandbox, and no Kubernetes connections."""
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    shutil.copy(sandbox.kubeconfig, home / ".kube" / "config")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KUBECONFIG", str(sandbox.kubeconfig))
    for name in [n for n in os.environ if n.startswith("AIRFLOW_CONN_")]:
        monkeypatch.delenv(name)
    return home / ".kube" / "config"


def _connection(connections: AirflowConnections, conn_id: str, extra: dict[str, Any]) -> str:
    return connections.add(conn_id, {"conn_type": "kubernetes", "extra": extra})


BAD_CONNECTIONS: list[tuple[str, dict[str, Any] | None, str]] = [
    (
        "kubernetes_default",
        None,
        r"no Airflow connection 'kubernetes_default'; create it with type kubernetes",
    ),
    ("kubernetes_prod", None, r"no Airflow connection 'kubernetes_prod'.*or fix kubernetes_conn_id"),
    ("empty", {}, r"set exactly one of kube_config_path, kube_config, in_cluster \(found none\)"),
    ("empty_strings", {"kube_config_path": "", "in_cluster": "false"}, r"\(found none\)"),
    (  # the plain name wins over the older prefixed one even when empty, as cncf-kubernetes reads it
        "blank_over_prefixed",
        {"kube_config_path": "", "extra__kubernetes__kube_config_path": "/nonexistent"},
        r"\(found none\)",
    ),
    (
        "two",
        {"kube_config_path": "/nonexistent", "in_cluster": True},
        r"exactly one of .* \(found kube_config_path, in_cluster\)",
    ),
    ("outside", {"in_cluster": True}, r"cannot load the in_cluster configuration"),
    ("missing_file", {"kube_config_path": "/nonexistent/kubeconfig"}, r"cannot load the kube_config_path"),
    ("dashed", {"kube_config_path": "--kubeconfig=/etc/passwd"}, r"cannot load the kube_config_path"),
    ("up", {"kube_config_path": "../../../../etc/passwd"}, r"kube_config_path|not a valid kubeconfig"),
    ("not_yaml", {"kube_config": f"users: [{{token: {SECRET_TOKEN}"}, r"not valid JSON or YAML \(line 1\)"),
    ("a_list", {"kube_config": "- a\n- b\n"}, r"kube_config must be a kubeconfig document"),
    ("no_context", {"kube_config": json.dumps({"users": []})}, r"cannot load the kube_config configuration"),
]


@pytest.mark.parametrize(
    ("conn_id", "extra", "message"), BAD_CONNECTIONS, ids=[c[0] for c in BAD_CONNECTIONS]
)
def test_a_connection_that_does_not_name_a_cluster_is_an_error_naming_it(
    worker_kubeconfig: Path,
    airflow_connections: AirflowConnections,
    conn_id: str,
    extra: dict[str, Any] | None,
    message: str,
) -> None:
    if extra is not None:
        _connection(airflow_connections, conn_id, extra)
    with pytest.raises(ConnectionSetupError, match=message) as raised:
        ClusterHook(conn_id).cluster()
    assert f"Kubernetes connection '{conn_id}'" in str(raised.value)
    assert SECRET_TOKEN not in str(raised.value)


def test_a_kubeconfig_file_that_is_not_yaml_is_not_quoted(
    worker_kubeconfig: Path, airflow_connections: AirflowConnections, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.write_text(f"users:\n- user: {{token: {SECRET_TOKEN}\n")
    _connection(airflow_connections, "broken_file", {"kube_config_path": str(broken)})
    with pytest.raises(ConnectionSetupError, match="is not a valid kubeconfig") as raised:
        ClusterHook("broken_file").cluster()
    assert SECRET_TOKEN not in str(raised.value)


def _namespaces(cluster: Cluster) -> set[str]:
    return {ns["metadata"]["name"] for ns in cluster.list("v1", "Namespace")}


def test_each_explicit_source_reaches_the_cluster(
    worker_kubeconfig: Path, airflow_connections: AirflowConnections, sandbox: Any, sandbox_namespace: str
) -> None:
    text = Path(sandbox.kubeconfig).read_text()
    context = yaml.safe_load(text)["current-context"]
    sources = {
        "by_path": {"kube_config_path": str(sandbox.kubeconfig), "cluster_context": context},
        "worker_home": {"kube_config_path": "~/.kube/config"},  # the worker's own, asked for by name
        "inline_yaml": {"kube_config": text},
        "inline_json": {"kube_config": json.dumps(yaml.safe_load(text))},
        "prefixed": {"extra__kubernetes__kube_config_path": str(sandbox.kubeconfig)},  # older forms
    }
    for conn_id, extra in sources.items():
        _connection(airflow_connections, conn_id, extra)
        assert sandbox_namespace in _namespaces(ClusterHook(conn_id).cluster()), conn_id


def test_disable_verify_ssl_reaches_the_client_configuration(
    worker_kubeconfig: Path, airflow_connections: AirflowConnections, sandbox: Any
) -> None:
    path = str(sandbox.kubeconfig)
    flags = {
        "checked": ({"kube_config_path": path}, True),
        "off": ({"kube_config_path": path, "disable_verify_ssl": True}, False),
        "off_as_text": ({"kube_config_path": path, "disable_verify_ssl": "True"}, False),
        "off_prefixed": ({"kube_config_path": path, "extra__kubernetes__disable_verify_ssl": "true"}, False),
        "other_text": ({"kube_config_path": path, "disable_verify_ssl": "yes"}, True),
    }
    for conn_id, (extra, verify) in flags.items():
        _connection(airflow_connections, conn_id, extra)
        assert ClusterHook(conn_id).cluster().api_client.configuration.verify_ssl is verify, conn_id


def test_the_hook_does_not_load_the_cncf_hook_or_the_async_client() -> None:
    """Every task that touches a cluster imports this module: cncf-kubernetes' hook module
    would add ``kubernetes_asyncio`` (seconds of CPU per task process) for nothing."""
    probe = (
        "import sys, airflow_flux_provider.hooks.kubernetes; "
        "print(sorted(m for m in sys.modules if m.startswith(('kubernetes_asyncio', "
        "'airflow.providers.cncf.kubernetes.hooks'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_an_unknown_context_is_named(
    worker_kubeconfig: Path, airflow_connections: AirflowConnections, sandbox: Any
) -> None:
    _connection(
        airflow_connections, "ctx", {"kube_config_path": str(sandbox.kubeconfig), "cluster_context": "nope"}
    )
    with pytest.raises(ConnectionSetupError, match=r"kube_config_path configuration: .*nope"):
        ClusterHook("ctx").cluster()


def test_triggers_read_the_connection_asynchronously(
    worker_kubeconfig: Path, airflow_connections: AirflowConnections, sandbox: Any, sandbox_namespace: str
) -> None:
    _connection(airflow_connections, "async_k8s", {"kube_config_path": str(sandbox.kubeconfig)})
    cluster = asyncio.run(ClusterHook("async_k8s").acluster())
    assert sandbox_namespace in _namespaces(cluster)
    with pytest.raises(ConnectionSetupError, match="no Airflow connection 'gone'"):
        asyncio.run(ClusterHook("gone").acluster())


def test_helm_acts_as_the_same_identity_as_the_python_client(
    worker_kubeconfig: Path, airflow_connections: AirflowConnections, sandbox: Any, sandbox_namespace: str
) -> None:
    """helm gets a kubeconfig made from the hook's cluster: same server and token, and the
    impersonated service account, so RBAC bounds helm exactly as it bounds the Python client."""
    _connection(airflow_connections, "helm_k8s", {"kube_config_path": str(sandbox.kubeconfig)})
    admin = ClusterHook("helm_k8s").cluster()
    reader = service_account_user(sandbox_namespace, "reader")
    admin.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "secret-reader", "namespace": sandbox_namespace},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}],
        }
    )
    admin.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "secret-reader", "namespace": sandbox_namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "secret-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": sandbox_namespace}],
        }
    )
    impersonated = ClusterHook("helm_k8s").cluster(impersonate=reader)
    with pytest.raises(ForbiddenError):
        impersonated.get(ObjectKey("v1", "ConfigMap", "default", "anything"))

    with HelmCli(impersonated) as helm:
        assert helm.kubeconfig is not None
        assert helm.kubeconfig.stat().st_mode & 0o077 == 0
        written = yaml.safe_load(helm.kubeconfig.read_text())
        assert written["users"][0]["user"]["as"] == reader
        assert helm.run(["list", "--namespace", sandbox_namespace, "-o", "json"], timeout=30).strip() == "[]"
        with pytest.raises(HelmCommandError, match="forbidden") as refused:
            helm.run(["list", "--namespace", "default"], timeout=30)
        assert sandbox.token not in str(refused.value)
        kubeconfig = helm.kubeconfig
    assert not kubeconfig.exists()


def test_helm_without_a_cluster_runs_chart_commands_only(worker_kubeconfig: Path) -> None:
    with HelmCli(None) as helm:
        assert helm.run(["version", "--short"], timeout=30, cluster=False).startswith("v")
        with pytest.raises(HelmCommandError, match="needs a cluster and none was given"):
            helm.run(["list"], timeout=30)
