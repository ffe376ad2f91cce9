"""JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch, edge by edge."""

from __future__ import annotations

from typing import Any

import pytest

from flux_devkit.sandbox.merge import (
    MergeError,
    json_patch,
    merge_patch,
    schema_for,
    strategic_merge_patch,
)

POD = schema_for("v1", "Pod")


def pod(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": list(containers), **spec},
    }


# -- RFC 6902 ------------------------------------------------------------------------------------


def test_json_patch_operations_in_order() -> None:
    doc: dict[str, Any] = {"a": {"b": 1}, "list": [1, 2]}
    ops: list[dict[str, Any]] = [
        {"op": "add", "path": "/a/c", "value": 2},
        {"op": "replace", "path": "/a/b", "value": 10},
        {"op": "remove", "path": "/list/0"},
        {"op": "copy", "from": "/a", "path": "/copied"},
        {"op": "move", "from": "/a/c", "path": "/moved"},
        {"op": "test", "path": "/moved", "value": 2},
    ]
    assert json_patch(doc, ops) == {"a": {"b": 10}, "list": [2], "copied": {"b": 10, "c": 2}, "moved": 2}
    assert doc == {"a": {"b": 1}, "list": [1, 2]}  # the input is never changed


def test_json_patch_dash_appends_and_index_inserts() -> None:
    doc = {"l": ["a", "c"]}
    out = json_patch(
        doc, [{"op": "add", "path": "/l/-", "value": "d"}, {"op": "add", "path": "/l/1", "value": "b"}]
    )
    assert out["l"] == ["a", "b", "c", "d"]


def test_json_pointer_escapes() -> None:
    doc = {"metadata": {"annotations": {"example.com/a~b": "x"}}}
    out = json_patch(
        doc, [{"op": "replace", "path": "/metadata/annotations/example.com~1a~0b", "value": "y"}]
    )
    assert out["metadata"]["annotations"] == {"example.com/a~b": "y"}


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ([{"op": "test", "path": "/a", "value": 2}], "test operation failed: /a"),
        ([{"op": "remove", "path": "/missing"}], "cannot remove /missing: it does not exist"),
        ([{"op": "replace", "path": "/missing", "value": 1}], "path /missing does not exist"),
        ([{"op": "add", "path": "/l/5", "value": 1}], "array index 5 is out of range in /l/5"),
        ([{"op": "remove", "path": "/l/-"}], "invalid array index '-'"),
        ([{"op": "add", "path": "/l/01", "value": 1}], "invalid array index '01'"),
        ([{"op": "add", "path": "a", "value": 1}], "invalid JSON pointer 'a'"),
        ([{"op": "add", "path": "/x/y", "value": 1}], "path /x/y does not exist: missing 'x'"),
        ([{"op": "move", "from": "/b", "path": "/b/c"}], "cannot move /b into its own child /b/c"),
        ([{"op": "copy", "path": "/z"}], "is missing 'from'"),
        ([{"op": "add", "path": "/z"}], "is missing 'value'"),
        ([{"op": "frob", "path": "/a"}], "unknown operation 'frob'"),
        ([{"path": "/a"}], "operation 0 must be an object with 'op' and 'path'"),
        ([{"op": "replace", "path": "", "value": [1]}], "must stay an object"),
    ],
)
def test_json_patch_bad_operations_are_clear_errors(ops: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(MergeError) as info:
        json_patch({"a": 1, "b": {"c": 1}, "l": [1]}, ops)
    assert message in str(info.value)
    assert info.value.code == 422


def test_failed_json_patch_applies_nothing() -> None:
    doc = {"a": 1}
    with pytest.raises(MergeError):
        json_patch(doc, [{"op": "add", "path": "/b", "value": 2}, {"op": "test", "path": "/a", "value": 9}])
    assert doc == {"a": 1}


# -- RFC 7386 ------------------------------------------------------------------------------------


def test_merge_patch_merges_maps_deletes_nulls_and_replaces_lists() -> None:
    doc = {"a": {"b": 1, "c": 2}, "l": [1, 2], "keep": True}
    out = merge_patch(doc, {"a": {"b": None, "d": {"e": 1}}, "l": [3], "missing": None})
    assert out == {"a": {"c": 2, "d": {"e": 1}}, "l": [3], "keep": True}
    assert doc["a"] == {"b": 1, "c": 2}


def test_merge_patch_object_replaces_a_scalar() -> None:
    assert merge_patch({"a": "x"}, {"a": {"b": None, "c": 1}}) == {"a": {"c": 1}}


# -- strategic merge patch ------------------------------------------------------------------------


def test_smp_merges_containers_by_name_and_replaces_atomic_lists() -> None:
    live = pod({"name": "app", "image": "a:1", "args": ["x"]}, {"name": "side", "image": "s:1"})
    out = strategic_merge_patch(
        live, {"spec": {"containers": [{"name": "app", "image": "a:2", "args": ["y"]}]}}, POD
    )
    assert out["spec"]["containers"] == [
        {"name": "app", "image": "a:2", "args": ["y"]},
        {"name": "side", "image": "s:1"},
    ]


def test_smp_appends_new_items_and_merges_nested_env() -> None:
    live = pod({"name": "app", "env": [{"name": "A", "value": "1"}]})
    patch = {"spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "2"}]}, {"name": "new"}]}}
    out = strategic_merge_patch(live, patch, POD)
    assert out["spec"]["containers"] == [
        {"name": "app", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
        {"name": "new"},
    ]


def test_smp_null_deletes_a_field() -> None:
    live = pod({"name": "app"}, nodeName="n1")
    assert "nodeName" not in strategic_merge_patch(live, {"spec": {"nodeName": None}}, POD)["spec"]


def test_smp_patch_delete_removes_an_item() -> None:
    live = pod({"name": "app"}, {"name": "side"})
    out = strategic_merge_patch(live, {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}, POD)
    assert out["spec"]["containers"] == [{"name": "app"}]


def test_smp_patch_replace_on_a_list_and_on_a_map() -> None:
    live = pod({"name": "app"}, {"name": "side"}, nodeSelector={"a": "1", "b": "2"})
    patch = {
        "spec": {
            "containers": [{"name": "only"}, {"$patch": "replace"}],
            "nodeSelector": {"c": "3", "$patch": "replace"},
        }
    }
    out = strategic_merge_patch(live, patch, POD)
    assert out["spec"]["containers"] == [{"name": "only"}]
    assert out["spec"]["nodeSelector"] == {"c": "3"}


def test_smp_patch_delete_on_a_map() -> None:
    live = pod({"name": "app"}, nodeSelector={"a": "1"})
    out = strategic_merge_patch(live, {"spec": {"nodeSelector": {"$patch": "delete"}}}, POD)
    assert "nodeSelector" not in out["spec"]


def test_smp_delete_from_primitive_list() -> None:
    live = {"metadata": {"name": "p", "finalizers": ["a", "b", "c"]}}
    out = strategic_merge_patch(live, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}, POD)
    assert out["metadata"]["finalizers"] == ["a", "c"]


def test_smp_merges_set_lists_without_duplicates() -> None:
    live = {"metadata": {"name": "p", "finalizers": ["a"]}}
    out = strategic_merge_patch(live, {"metadata": {"finalizers": ["a", "b"]}}, POD)
    assert out["metadata"]["finalizers"] == ["a", "b"]


def test_smp_set_element_order() -> None:
    live = pod({"name": "a"}, {"name": "b"}, {"name": "c"})
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}],
            "containers": [{"name": "c", "image": "x"}],
        }
    }
    out = strategic_merge_patch(live, patch, POD)
    assert [c["name"] for c in out["spec"]["containers"]] == ["c", "a", "b"]


def test_smp_retain_keys_drops_unlisted_fields() -> None:
    live = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert strategic_merge_patch(live, patch, schema_for("apps/v1", "Deployment"))["spec"]["strategy"] == {
        "type": "Recreate"
    }


def test_smp_service_ports_merge_by_port() -> None:
    svc = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    out = strategic_merge_patch(
        svc, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}, schema_for("v1", "Service")
    )
    assert out["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443}]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"spec": {"containers": [{"image": "x"}]}}, "merge key 'name'"),
        ({"spec": {"$patch": "explode"}}, "unknown $patch directive 'explode'"),
        ({"spec": {"$frobnicate": 1}}, "unknown strategic merge patch directive '$frobnicate'"),
        ({"$patch": "delete"}, "cannot delete the whole object"),
        ({"spec": {"$setElementOrder/containers": "c"}}, "must be a list"),
    ],
)
def test_smp_bad_patches_are_clear_errors(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(MergeError) as info:
        strategic_merge_patch(pod({"name": "app"}), patch, POD)
    assert message in str(info.value)


def test_smp_merges_a_service_selector_key_by_key() -> None:
    svc = {"spec": {"selector": {"app": "web", "tier": "front"}}}
    patch = {"spec": {"selector": {"tier": None, "version": "v2"}}}
    out = strategic_merge_patch(svc, patch, schema_for("v1", "Service"))
    assert out["spec"]["selector"] == {"app": "web", "version": "v2"}


def test_patch_errors_name_the_object() -> None:
    obj = {"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "team-a"}, "data": {}}
    with pytest.raises(MergeError) as info:
        json_patch(obj, [{"op": "remove", "path": "/data/x"}])
    assert str(info.value) == "ConfigMap/team-a/c: cannot remove /data/x: it does not exist"
    with pytest.raises(MergeError) as info:
        strategic_merge_patch(pod(), {"spec": {"$patch": "explode"}}, POD)
    assert str(info.value).startswith("Pod/p: unknown $patch directive")


def test_json_patch_test_compares_json_types() -> None:
    doc = {"flag": True, "n": 1, "nested": {"l": [1, True]}}
    assert json_patch(doc, [{"op": "test", "path": "/nested", "value": {"l": [1, True]}}]) == doc
    with pytest.raises(MergeError):
        json_patch(doc, [{"op": "test", "path": "/n", "value": True}])
    with pytest.raises(MergeError):
        json_patch(doc, [{"op": "test", "path": "/nested/l", "value": [True, 1]}])


def test_smp_delete_from_a_missing_primitive_list_adds_nothing() -> None:
    live = {"metadata": {"name": "p"}}
    out = strategic_merge_patch(live, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}, POD)
    assert out == {"metadata": {"name": "p"}}
