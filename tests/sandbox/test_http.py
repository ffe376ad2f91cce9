"""The HTTP surface: authentication, discovery, bad bodies, Status shapes, admin endpoints."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

import pytest

from flux_devkit.sandbox import Sandbox


def call(
    sandbox: Sandbox,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    token: str | None = "",
    content_type: str = "application/json",
) -> tuple[int, Any]:
    context = ssl.create_default_context(cafile=str(sandbox.directory / "pki" / "ca.crt"))
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token or sandbox.token}"
    request = urllib.request.Request(sandbox.url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            raw = response.read()
            code = response.status
    except urllib.error.HTTPError as err:
        raw, code = err.read(), err.code
    try:
        return code, json.loads(raw)
    except ValueError:
        return code, raw.decode()


def test_missing_or_wrong_token_is_401(sandbox: Sandbox) -> None:
    for token in (None, "wrong"):
        code, body = call(sandbox, "GET", "/api/v1/namespaces", token=token)
        assert code == 401
        assert body == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "Unauthorized",
            "reason": "Unauthorized",
            "code": 401,
        }


def test_health_and_version_need_no_token(sandbox: Sandbox) -> None:
    assert call(sandbox, "GET", "/readyz", token=None) == (200, "ok")
    code, version = call(sandbox, "GET", "/version", token=None)
    assert code == 200 and version["gitVersion"].startswith("v1.")


def test_discovery_lists_groups_and_resources(sandbox: Sandbox) -> None:
    _, groups = call(sandbox, "GET", "/apis")
    names = {g["name"] for g in groups["groups"]}
    assert {
        "apps",
        "batch",
        "rbac.authorization.k8s.io",
        "apiextensions.k8s.io",
        "networking.k8s.io",
    } <= names
    _, apps = call(sandbox, "GET", "/apis/apps/v1")
    by_name = {r["name"]: r for r in apps["resources"]}
    assert by_name["deployments"]["kind"] == "Deployment" and by_name["deployments"]["namespaced"]
    assert "deployments/status" in by_name and by_name["deployments/scale"]["kind"] == "Scale"
    assert call(sandbox, "GET", "/apis/nope/v1")[0] == 404


def test_malformed_json_is_400_and_server_keeps_serving(sandbox: Sandbox, sandbox_namespace: str) -> None:
    code, body = call(sandbox, "POST", f"/api/v1/namespaces/{sandbox_namespace}/configmaps", b"{not json")
    assert code == 400 and body["reason"] == "BadRequest"
    assert "could not be decoded as JSON" in body["message"]
    assert call(sandbox, "GET", f"/api/v1/namespaces/{sandbox_namespace}")[0] == 200


def test_wrong_kind_and_api_version_are_400(sandbox: Sandbox, sandbox_namespace: str) -> None:
    path = f"/api/v1/namespaces/{sandbox_namespace}/configmaps"
    code, body = call(
        sandbox,
        "POST",
        path,
        json.dumps({"apiVersion": "v2", "kind": "ConfigMap", "metadata": {"name": "a"}}).encode(),
    )
    assert code == 400 and "does not match the expected API version" in body["message"]
    code, body = call(
        sandbox,
        "POST",
        path,
        json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a"}}).encode(),
    )
    assert code == 400 and "kind" in body["message"]


def test_unknown_resource_is_404(sandbox: Sandbox) -> None:
    code, body = call(sandbox, "GET", "/apis/apps/v1/namespaces/default/widgets")
    assert code == 404 and body["reason"] == "NotFound"


def test_oversized_body_is_413(sandbox: Sandbox, sandbox_namespace: str) -> None:
    big = json.dumps({"metadata": {"name": "big"}, "data": {"x": "a" * (4 * 1024 * 1024)}}).encode()
    code, body = call(sandbox, "POST", f"/api/v1/namespaces/{sandbox_namespace}/configmaps", big)
    assert code == 413 and body["reason"] == "RequestEntityTooLarge"


def test_an_object_over_etcds_limit_is_refused_as_kube_apiserver_passes_etcds_error_on(
    sandbox: Sandbox, sandbox_namespace: str
) -> None:
    """Under the 3 MiB body limit but over etcd's 1.5 MiB: a 500 without a reason, the body
    kube-apiserver answers (kubernetes/kubernetes#74600); a dry-run never reaches etcd and passes."""
    path = f"/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{sandbox_namespace}/kustomizations"
    manifest = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "big"},
        "spec": {
            "interval": "10m",
            "prune": False,
            "sourceRef": {"kind": "GitRepository", "name": "big"},
            "patches": [{"patch": "x" * 1024} for _ in range(1600)],
        },
    }
    body = json.dumps(manifest).encode()
    assert 1.5 * 2**20 < len(body) < 3 * 2**20
    assert call(sandbox, "POST", path, body) == (
        500,
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "etcdserver: request is too large",
            "code": 500,
        },
    )
    assert call(sandbox, "GET", f"{path}/big")[0] == 404
    assert call(sandbox, "POST", f"{path}?dryRun=All", body)[0] == 201


def test_injected_fault_and_counters(sandbox: Sandbox, sandbox_namespace: str) -> None:
    path = f"/api/v1/namespaces/{sandbox_namespace}/configmaps"
    sandbox.counters.reset()
    sandbox.faults.add(
        verb="list",
        resource="configmaps",
        namespace=sandbox_namespace,
        code=429,
        retry_after_seconds=2,
        times=1,
    )
    code, body = call(sandbox, "GET", path)
    assert code == 429 and body["reason"] == "TooManyRequests" and body["details"]["retryAfterSeconds"] == 2
    assert call(sandbox, "GET", path)[0] == 200  # times=1: the next one passes
    call(sandbox, "POST", path, json.dumps({"metadata": {"name": "counted"}}).encode())
    assert sandbox.counters.get("list", "configmaps") == 2
    assert sandbox.counters.get("create", "configmaps") == 1
    assert sandbox.counters.mutating() == 1


def test_bad_fault_definition_is_refused(sandbox: Sandbox) -> None:
    from flux_devkit.sandbox import SandboxError

    with pytest.raises(SandboxError, match="unknown fault fields"):
        sandbox.faults.add(verb="get", colour="red")


def test_simulator_settings_endpoint(sandbox: Sandbox) -> None:
    from flux_devkit.sandbox import SandboxError

    current = sandbox.simulate()
    assert set(current) == {"readyDelaySeconds", "failImagePattern"}
    with pytest.raises(SandboxError, match="not a regular expression"):
        sandbox.simulate(fail_image_pattern="(")
    assert sandbox.simulate() == current


def test_malformed_yaml_apply_is_400(sandbox: Sandbox, sandbox_namespace: str) -> None:
    path = f"/api/v1/namespaces/{sandbox_namespace}/configmaps/y?fieldManager=me"
    code, body = call(sandbox, "PATCH", path, b"kind: [unclosed", content_type="application/apply-patch+yaml")
    assert code == 400 and "could not be decoded as YAML" in body["message"]
    code, body = call(sandbox, "PATCH", path, b"data: {a: b}\n", content_type="application/apply-patch+yaml")
    assert code == 400 and "apiVersion and kind" in body["message"]


def test_an_apply_body_is_read_as_json_when_it_is_json_and_as_yaml_otherwise(
    sandbox: Sandbox, sandbox_namespace: str
) -> None:
    """Clients send apply patches as JSON (a YAML document): read by the JSON parser, so ``1e3`` is
    a number as in JSON (PyYAML's YAML 1.1 read the string "1e3"); a flow-style YAML mapping,
    which also starts with ``{``, still reads as YAML."""
    path = f"/api/v1/namespaces/{sandbox_namespace}/configmaps/%s?fieldManager=me"
    as_json = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}, "data": {"on": "yes"}}
    code, body = call(
        sandbox,
        "PATCH",
        path % "j",
        json.dumps(as_json).encode(),
        content_type="application/apply-patch+yaml",
    )
    assert code == 201 and body["data"] == {"on": "yes"}
    number = b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "n"}, "data": {"k": 1e3}}'
    code, body = call(sandbox, "PATCH", path % "n", number, content_type="application/apply-patch+yaml")
    assert code == 400 and "cannot unmarshal number" in body["message"]  # YAML 1.1 read the string "1e3"
    flow = b"{apiVersion: v1, kind: ConfigMap, metadata: {name: f}, data: {k: v}}"
    code, body = call(sandbox, "PATCH", path % "f", flow, content_type="application/apply-patch+yaml")
    assert code == 201 and body["data"] == {"k": "v"}
    code, body = call(
        sandbox, "PATCH", path % "b", b'{"kind": [', content_type="application/apply-patch+yaml"
    )
    assert code == 400 and "could not be decoded as YAML" in body["message"]


def test_unsupported_patch_type_is_415(sandbox: Sandbox, sandbox_namespace: str) -> None:
    path = f"/api/v1/namespaces/{sandbox_namespace}"
    code, body = call(sandbox, "PATCH", path, b"{}", content_type="text/plain")
    assert code == 415 and body["reason"] == "UnsupportedMediaType"
