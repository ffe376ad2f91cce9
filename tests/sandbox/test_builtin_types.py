"""Built-in kinds are decoded by their Go types: wrong types are 400, unknown fields dropped or refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from airflow_flux_provider.kube.cluster import Cluster, InvalidObjectError, ObjectKey
from flux_devkit.sandbox import Sandbox, SandboxError
from tests.sandbox.manifests import deployment
from tests.sandbox.test_http import call


@pytest.fixture
def cluster(sandbox: Sandbox) -> Cluster:
    return Cluster.from_kubeconfig(str(sandbox.kubeconfig))


def app(name: str, container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """A Deployment of one nginx container ``app`` with ``container`` fields added."""
    return deployment(name, {"name": "app", "image": "nginx:1.27", **container}, **spec)


def test_kubectl_apply_of_a_number_where_a_string_belongs_is_refused(
    sandbox: Sandbox, sandbox_namespace: str
) -> None:
    manifest = yaml.safe_dump(app("env-int", {"env": [{"name": "WORKERS", "value": 4}]}))
    with pytest.raises(SandboxError) as err:
        sandbox.kubectl("apply", "--server-side", "-n", sandbox_namespace, "-f", "-", input=manifest)
    assert (
        'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal number '
        "into Go struct field EnvVar.spec.template.spec.containers.env.value of type string"
    ) in str(err.value)
    missing = sandbox.kubectl("get", "deployment", "env-int", "-n", sandbox_namespace, check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr  # nothing was half-applied


def test_kubectl_strict_validation_names_the_unknown_field(sandbox: Sandbox, sandbox_namespace: str) -> None:
    manifest = yaml.safe_dump(app("typo", {"imagePullPolicyy": "Always"}, replicass=2))
    with pytest.raises(SandboxError) as err:
        sandbox.kubectl("create", "-n", sandbox_namespace, "-f", "-", input=manifest)
    message = str(err.value)
    assert 'strict decoding error: unknown field "spec.replicass"' in message
    assert 'unknown field "spec.template.spec.containers[0].imagePullPolicyy"' in message


def test_without_strict_validation_unknown_fields_are_dropped(
    sandbox: Sandbox, sandbox_namespace: str
) -> None:
    body = app("dropped", {"colour": "red"})
    path = f"/apis/apps/v1/namespaces/{sandbox_namespace}/deployments"
    code, stored = call(sandbox, "POST", path, json.dumps(body).encode())
    assert code == 201
    assert stored["spec"]["template"]["spec"]["containers"][0].keys() >= {"name", "image"}
    assert "colour" not in stored["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize(
    ("container", "spec"),
    [
        ({"resources": {"limits": {"cpu": 1, "memory": "64Mi"}, "requests": {"cpu": 0.5}}}, {}),
        ({"ports": [{"containerPort": 8080}], "livenessProbe": {"httpGet": {"port": "http"}}}, {}),
        (
            {"readinessProbe": {"tcpSocket": {"port": 8080}}},
            {"strategy": {"rollingUpdate": {"maxSurge": "25%"}}},
        ),
        ({"env": [{"name": "A", "value": None}]}, {"replicas": 2, "paused": False}),
    ],
)
def test_what_the_go_types_accept_is_accepted(
    cluster: Cluster, sandbox_namespace: str, container: dict[str, Any], spec: dict[str, Any]
) -> None:
    """Quantities take numbers, int-or-string takes both, null is the zero value."""
    obj = app("accepted", container, **spec)
    obj["metadata"]["namespace"] = sandbox_namespace
    cluster.apply(obj, dry_run=True)


@pytest.mark.parametrize(
    ("container", "spec", "message"),
    [
        ({}, {"replicas": "2"}, "cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas"),
        ({}, {"paused": "yes"}, "field DeploymentSpec.spec.paused of type bool"),
        (
            {},
            {"strategy": {"rollingUpdate": {"maxSurge": True}}},
            "cannot unmarshal bool into Go struct field RollingUpdateDeployment.spec.strategy.rollingUpdate"
            ".maxSurge of type intstr.IntOrString",
        ),
        ({"args": "--fast"}, {}, "field Container.spec.template.spec.containers.args of type []str"),
        ({"resources": {"limits": {"cpu": [1]}}}, {}, "of type Quantity"),
        ({"resources": {"limits": {"cpu": "half"}}}, {}, "quantities must match the regular expression"),
        ({"resources": {"limits": {"memory": "5mi"}}}, {}, "unable to parse quantity's suffix"),
    ],
)
def test_our_cluster_client_reports_the_object_and_the_field(
    cluster: Cluster, sandbox_namespace: str, container: dict[str, Any], spec: dict[str, Any], message: str
) -> None:
    obj = app("refused", container, **spec)
    obj["metadata"]["namespace"] = sandbox_namespace
    with pytest.raises(InvalidObjectError) as err:
        cluster.apply(obj)
    assert f"Deployment/{sandbox_namespace}/refused" in str(err.value) and message in str(err.value)
    assert cluster.get(ObjectKey.of(obj)) is None


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        (0.5, "500m"),
        ("0.5", "500m"),
        ("1500m", "1500m"),
        ("1000m", "1"),
        (1000, "1k"),
        ("1024Mi", "1Gi"),
        ("1.5Gi", "1536Mi"),
        ("0.5Ki", "512"),
        ("1000Ki", "1000Ki"),
        ("12e2", "1200"),
        ("1e3", "1e3"),
        ("0.0000000001", "1n"),  # rounded up to the nanounit
        ("99999999999999999999", "9223372036854775807"),  # capped at the int64 maximum
    ],
)
def test_quantities_are_stored_in_the_servers_canonical_form(
    cluster: Cluster, sandbox_namespace: str, written: Any, stored: str
) -> None:
    """As resource.Quantity writes them, so a client comparing what it sent with what it reads back
    (drift detection) meets what it would meet on a real server."""
    obj = app("quantity", {"resources": {"requests": {"cpu": written}}})
    obj["metadata"]["namespace"] = sandbox_namespace
    answer = cluster.apply(obj, dry_run=True)
    assert answer["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == stored
