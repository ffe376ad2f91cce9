"""Impersonated ServiceAccounts are authorized against stored RBAC objects (multi-tenant lockdown)."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from flux_devkit.sandbox import Sandbox, SandboxError

RBAC = "rbac.authorization.k8s.io"


@pytest.fixture
def tenant(sandbox: Sandbox, sandbox_namespace: str) -> str:
    """A ServiceAccount that may manage ConfigMaps in its own namespace and read one named Secret."""
    admin = client.RbacAuthorizationV1Api(sandbox.api_client())
    admin.create_namespaced_role(
        sandbox_namespace,
        {
            "metadata": {"name": "tenant"},
            "rules": [
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]},
                {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["shared"], "verbs": ["get"]},
            ],
        },
    )
    admin.create_namespaced_role_binding(
        sandbox_namespace,
        {
            "metadata": {"name": "tenant"},
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "tenant"},
            "subjects": [{"kind": "ServiceAccount", "name": "reconciler", "namespace": sandbox_namespace}],
        },
    )
    return f"system:serviceaccount:{sandbox_namespace}:reconciler"


def test_tenant_may_write_in_its_namespace_only(
    sandbox: Sandbox, sandbox_namespace: str, tenant: str
) -> None:
    core = client.CoreV1Api(sandbox.api_client(impersonate=tenant))
    core.create_namespaced_config_map(sandbox_namespace, {"metadata": {"name": "mine"}})
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map("default", {"metadata": {"name": "theirs"}})
    assert info.value.status == 403
    status = json.loads(info.value.body)
    assert status["reason"] == "Forbidden"
    assert status["message"] == (
        f'configmaps is forbidden: User "{tenant}" cannot create resource "configmaps" in API group "" '
        'in the namespace "default"'
    )


def test_resource_names_restrict_access(sandbox: Sandbox, sandbox_namespace: str, tenant: str) -> None:
    admin = client.CoreV1Api(sandbox.api_client())
    for name in ("shared", "private"):
        admin.create_namespaced_secret(
            sandbox_namespace, {"metadata": {"name": name}, "stringData": {"k": "v"}}
        )
    core = client.CoreV1Api(sandbox.api_client(impersonate=tenant))
    assert core.read_namespaced_secret("shared", sandbox_namespace).metadata.name == "shared"
    with pytest.raises(ApiException) as info:
        core.read_namespaced_secret("private", sandbox_namespace)
    assert info.value.status == 403
    assert 'secrets "private" is forbidden' in json.loads(info.value.body)["message"]
    with pytest.raises(ApiException):
        core.list_namespaced_secret(sandbox_namespace)


def test_cluster_role_binding_grants_cluster_scope(sandbox: Sandbox, sandbox_namespace: str) -> None:
    admin = client.RbacAuthorizationV1Api(sandbox.api_client())
    user = f"system:serviceaccount:{sandbox_namespace}:viewer"
    with pytest.raises(SandboxError, match='cannot list resource "namespaces"'):
        sandbox.kubectl("get", "namespaces", "--as", user)
    admin.create_cluster_role(
        {
            "metadata": {"name": f"{sandbox_namespace}-ns-view"},
            "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list"]}],
        }
    )
    admin.create_cluster_role_binding(
        {
            "metadata": {"name": f"{sandbox_namespace}-ns-view"},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": f"{sandbox_namespace}-ns-view"},
            "subjects": [{"kind": "Group", "name": f"system:serviceaccounts:{sandbox_namespace}"}],
        }
    )
    assert sandbox_namespace in sandbox.kubectl("get", "namespaces", "--as", user).stdout
    with pytest.raises(SandboxError, match="forbidden"):
        sandbox.kubectl("delete", "namespace", sandbox_namespace, "--as", user)


def test_kubectl_auth_can_i_uses_access_reviews(
    sandbox: Sandbox, sandbox_namespace: str, tenant: str
) -> None:
    allowed = sandbox.kubectl(
        "auth", "can-i", "create", "configmaps", "-n", sandbox_namespace, "--as", tenant
    )
    assert allowed.stdout.strip() == "yes"
    denied = sandbox.kubectl(
        "auth", "can-i", "create", "configmaps", "-n", "default", "--as", tenant, check=False
    )
    assert denied.returncode == 1 and denied.stdout.strip() == "no"
