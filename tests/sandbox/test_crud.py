"""Core verbs through the real ``kubernetes`` client: create/get/list/update/delete and their errors."""

from __future__ import annotations

import json
import threading
from ipaddress import ip_address, ip_network

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from flux_devkit.sandbox import Sandbox


@pytest.fixture(scope="module")
def core(sandbox: Sandbox) -> client.CoreV1Api:
    return client.CoreV1Api(sandbox.api_client())


@pytest.fixture(scope="module")
def apps(sandbox: Sandbox) -> client.AppsV1Api:
    return client.AppsV1Api(sandbox.api_client())


def _status(err: ApiException) -> dict:
    return json.loads(err.body)


def configmap(name: str, labels: dict[str, str] | None = None, **data: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels or {}},
        "data": data,
    }


def test_create_sets_server_metadata_and_get_returns_it(
    core: client.CoreV1Api, sandbox_namespace: str
) -> None:
    created = core.create_namespaced_config_map(sandbox_namespace, configmap("one", a="1"))
    assert created.metadata.uid and created.metadata.creation_timestamp
    assert int(created.metadata.resource_version) > 0
    fetched = core.read_namespaced_config_map("one", sandbox_namespace)
    assert fetched.data == {"a": "1"}
    assert fetched.metadata.uid == created.metadata.uid


def test_create_twice_is_already_exists(core: client.CoreV1Api, sandbox_namespace: str) -> None:
    core.create_namespaced_config_map(sandbox_namespace, configmap("dup"))
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map(sandbox_namespace, configmap("dup"))
    assert info.value.status == 409
    status = _status(info.value)
    assert status["reason"] == "AlreadyExists"
    assert status["message"] == 'configmaps "dup" already exists'


def test_create_in_missing_namespace_is_not_found(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map("no-such-ns", configmap("x"))
    assert info.value.status == 404
    assert _status(info.value)["message"] == 'namespaces "no-such-ns" not found'


def test_invalid_name_is_422_with_cause(core: client.CoreV1Api, sandbox_namespace: str) -> None:
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map(sandbox_namespace, configmap("Bad_Name"))
    assert info.value.status == 422
    status = _status(info.value)
    assert status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "metadata.name"
    assert "RFC 1123" in status["message"]


def test_update_with_stale_resource_version_conflicts(core: client.CoreV1Api, sandbox_namespace: str) -> None:
    first = core.create_namespaced_config_map(sandbox_namespace, configmap("cas", v="1"))
    first.data = {"v": "2"}
    core.replace_namespaced_config_map("cas", sandbox_namespace, first)
    first.data = {"v": "3"}  # still carries the old resourceVersion
    with pytest.raises(ApiException) as info:
        core.replace_namespaced_config_map("cas", sandbox_namespace, first)
    assert info.value.status == 409
    assert "the object has been modified" in _status(info.value)["message"]
    assert core.read_namespaced_config_map("cas", sandbox_namespace).data == {"v": "2"}


def test_list_with_label_selector_and_pages(core: client.CoreV1Api, sandbox_namespace: str) -> None:
    for i in range(5):
        core.create_namespaced_config_map(
            sandbox_namespace, configmap(f"item-{i}", {"tier": "web" if i % 2 else "db", "n": str(i)})
        )
    web = core.list_namespaced_config_map(sandbox_namespace, label_selector="tier=web")
    assert sorted(i.metadata.name for i in web.items) == ["item-1", "item-3"]
    not_web = core.list_namespaced_config_map(sandbox_namespace, label_selector="tier notin (web),n")
    assert sorted(i.metadata.name for i in not_web.items) == ["item-0", "item-2", "item-4"]
    by_name = core.list_namespaced_config_map(sandbox_namespace, field_selector="metadata.name=item-2")
    assert [i.metadata.name for i in by_name.items] == ["item-2"]
    names, token = [], None
    while True:
        page = core.list_namespaced_config_map(
            sandbox_namespace, limit=2, _continue=token, label_selector="tier"
        )
        names += [i.metadata.name for i in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert names == [f"item-{i}" for i in range(5)]


def test_dry_run_does_not_store(core: client.CoreV1Api, sandbox_namespace: str) -> None:
    dry = core.create_namespaced_config_map(sandbox_namespace, configmap("ghost"), dry_run="All")
    assert dry.metadata.name == "ghost"
    with pytest.raises(ApiException) as info:
        core.read_namespaced_config_map("ghost", sandbox_namespace)
    assert info.value.status == 404


def test_owner_reference_garbage_collection(core: client.CoreV1Api, sandbox_namespace: str) -> None:
    owner = core.create_namespaced_config_map(sandbox_namespace, configmap("owner"))
    child = configmap("child")
    child["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    ]
    core.create_namespaced_config_map(sandbox_namespace, child)
    orphan = configmap("orphan")
    orphan["metadata"]["ownerReferences"] = child["metadata"]["ownerReferences"]
    core.create_namespaced_config_map(sandbox_namespace, orphan)
    core.delete_namespaced_config_map("owner", sandbox_namespace)
    names = {i.metadata.name for i in core.list_namespaced_config_map(sandbox_namespace).items}
    assert "child" not in names and "orphan" not in names


def test_orphan_propagation_keeps_dependents(core: client.CoreV1Api, sandbox_namespace: str) -> None:
    owner = core.create_namespaced_config_map(sandbox_namespace, configmap("owner2"))
    child = configmap("kept")
    child["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner2", "uid": owner.metadata.uid}
    ]
    core.create_namespaced_config_map(sandbox_namespace, child)
    core.delete_namespaced_config_map("owner2", sandbox_namespace, propagation_policy="Orphan")
    kept = core.read_namespaced_config_map("kept", sandbox_namespace)
    assert not kept.metadata.owner_references


def test_namespace_deletion_removes_contents(core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "doomed"}})
    core.create_namespaced_config_map("doomed", configmap("inside"))
    core.delete_namespace("doomed")
    with pytest.raises(ApiException) as info:
        core.read_namespace("doomed")
    assert info.value.status == 404
    assert core.list_config_map_for_all_namespaces(field_selector="metadata.namespace=doomed").items == []


def test_service_gets_cluster_ip(core: client.CoreV1Api, sandbox_namespace: str) -> None:
    svc = core.create_namespaced_service(
        sandbox_namespace,
        {"metadata": {"name": "svc"}, "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}},
    )
    assert ip_address(svc.spec.cluster_ip) in ip_network("10.96.0.0/12")  # the API server's default range
    assert svc.spec.ports[0].target_port == 80


def test_invalid_label_value_is_422(core: client.CoreV1Api, sandbox_namespace: str) -> None:
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map(sandbox_namespace, configmap("labelled", {"team": "a b!"}))
    assert info.value.status == 422
    status = _status(info.value)
    assert status["details"]["causes"][0]["field"] == "metadata.labels"
    assert 'Invalid value: "a b!"' in status["message"]


def test_deletecollection_honours_label_selector(core: client.CoreV1Api, sandbox_namespace: str) -> None:
    for name, tier in (("a", "web"), ("b", "web"), ("c", "db")):
        core.create_namespaced_config_map(sandbox_namespace, configmap(name, {"tier": tier}))
    core.delete_collection_namespaced_config_map(sandbox_namespace, label_selector="tier=web")
    assert [i.metadata.name for i in core.list_namespaced_config_map(sandbox_namespace).items] == ["c"]


def test_scale_subresource_reads_and_writes_replicas(apps: client.AppsV1Api, sandbox_namespace: str) -> None:
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "scaled"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "s"}},
            "template": {
                "metadata": {"labels": {"app": "s"}},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
    }
    apps.create_namespaced_deployment(sandbox_namespace, body)
    scale = apps.read_namespaced_deployment_scale("scaled", sandbox_namespace)
    assert scale.spec.replicas == 2 and scale.status.selector == "app=s"
    scale.spec.replicas = 5
    apps.replace_namespaced_deployment_scale("scaled", sandbox_namespace, scale)
    live = apps.read_namespaced_deployment("scaled", sandbox_namespace)
    assert live.spec.replicas == 5 and live.metadata.generation == 2


def test_dry_run_update_and_delete_change_nothing(core: client.CoreV1Api, sandbox_namespace: str) -> None:
    created = core.create_namespaced_config_map(sandbox_namespace, configmap("stay", v="1"))
    created.data = {"v": "2"}
    preview = core.replace_namespaced_config_map("stay", sandbox_namespace, created, dry_run="All")
    assert preview.data == {"v": "2"}
    core.delete_namespaced_config_map("stay", sandbox_namespace, dry_run="All")
    live = core.read_namespaced_config_map("stay", sandbox_namespace)
    assert live.data == {"v": "1"} and live.metadata.resource_version == created.metadata.resource_version


def test_optimistic_concurrency_loses_no_update(core: client.CoreV1Api, sandbox_namespace: str) -> None:
    """Four writers each add 10 to a counter with get/replace, retrying on 409: no increment is lost."""
    core.create_namespaced_config_map(sandbox_namespace, configmap("counter", n="0"))
    errors: list[Exception] = []

    def writer() -> None:
        done = 0
        while done < 10:
            live = core.read_namespaced_config_map("counter", sandbox_namespace)
            live.data = {"n": str(int(live.data["n"]) + 1)}
            try:
                core.replace_namespaced_config_map("counter", sandbox_namespace, live)
                done += 1
            except ApiException as err:
                if err.status != 409:
                    errors.append(err)
                    return

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert core.read_namespaced_config_map("counter", sandbox_namespace).data == {"n": "40"}
