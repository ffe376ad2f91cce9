"""Server-side apply and managedFields, case by case as the Kubernetes documentation describes them.

Sources: "Server-Side Apply" (field management, conflicts, merge strategy, transferring
ownership) and the structured-merge-diff rules for associative, set and atomic lists.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_flux_provider.errors import FluxError
from flux_devkit.sandbox.merge import (
    ApplyConflict,
    MergeError,
    TypeSchema,
    record_update,
    schema_for,
    schema_from_crd,
    server_side_apply,
)

CM = schema_for("v1", "ConfigMap")
DEPLOY = schema_for("apps/v1", "Deployment")


def cm(**data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "ns"},
        "data": data,
    }


def deployment(*containers: dict[str, Any], replicas: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": list(containers)}},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "ns"},
        "spec": spec,
    }


def apply(
    live: dict[str, Any] | None, obj: dict[str, Any], manager: str, *, force: bool = False
) -> dict[str, Any]:
    schema = DEPLOY if obj["kind"] == "Deployment" else CM
    return server_side_apply(live, obj, manager, force=force, schema=schema)


def fields_of(obj: dict[str, Any], manager: str, operation: str = "Apply") -> dict[str, Any]:
    for entry in obj["metadata"].get("managedFields") or []:
        if entry["manager"] == manager and entry["operation"] == operation:
            return dict(entry["fieldsV1"])
    return {}


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list(obj["spec"]["template"]["spec"]["containers"])


# -- field ownership ---------------------------------------------------------------------------


def test_create_records_every_applied_field_for_the_manager() -> None:
    live = apply(None, cm(a="1", b="2"), "alice")
    assert live["data"] == {"a": "1", "b": "2"}
    assert fields_of(live, "alice") == {"f:data": {"f:a": {}, "f:b": {}}}


def test_managed_fields_entry_has_the_api_server_shape() -> None:
    live = apply(None, deployment({"name": "app", "image": "app:1"}, replicas=2), "alice")
    (entry,) = live["metadata"]["managedFields"]
    assert set(entry) == {"manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1"}
    assert (entry["manager"], entry["operation"], entry["apiVersion"], entry["fieldsType"]) == (
        "alice",
        "Apply",
        "apps/v1",
        "FieldsV1",
    )
    assert entry["time"].endswith("Z") and "T" in entry["time"]
    item = entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"app"}']
    assert item == {".": {}, "f:name": {}, "f:image": {}}
    assert entry["fieldsV1"]["f:spec"]["f:replicas"] == {}


def test_identity_and_server_metadata_are_not_owned_and_applied_managed_fields_are_ignored() -> None:
    obj = cm(a="1")
    obj["metadata"].update(
        uid="u-1",
        resourceVersion="9",
        labels={"team": "x"},
        managedFields=[{"manager": "forged", "operation": "Apply", "fieldsV1": {"f:data": {}}}],
    )
    live = apply(None, obj, "alice")
    assert [e["manager"] for e in live["metadata"]["managedFields"]] == ["alice"]
    assert fields_of(live, "alice")["f:metadata"] == {"f:labels": {"f:team": {}}}


def test_subresource_is_recorded_and_status_is_owned_only_through_it() -> None:
    obj = cm(a="1")
    obj["status"] = {"phase": "Ready"}
    live = server_side_apply(None, obj, "ctl", force=False, schema=CM, subresource="status")
    (entry,) = live["metadata"]["managedFields"]
    assert entry["subresource"] == "status" and entry["fieldsV1"] == {"f:status": {"f:phase": {}}}
    main = apply(None, obj, "alice")
    assert "f:status" not in fields_of(main, "alice")


# -- shared ownership ----------------------------------------------------------------------------


def test_same_value_applied_by_two_managers_is_shared() -> None:
    live = apply(apply(None, cm(a="1"), "alice"), cm(a="1", b="2"), "bob")
    assert fields_of(live, "alice") == {"f:data": {"f:a": {}}}
    assert fields_of(live, "bob") == {"f:data": {"f:a": {}, "f:b": {}}}


def test_shared_field_stays_when_one_owner_stops_applying_it() -> None:
    live = apply(apply(None, cm(a="1"), "alice"), cm(a="1"), "bob")
    no_data = cm()
    del no_data["data"]
    live = apply(live, no_data, "bob")
    assert live["data"] == {"a": "1"}
    assert fields_of(live, "bob") == {} and fields_of(live, "alice") == {"f:data": {"f:a": {}}}


def test_shared_list_item_with_more_fields_from_the_other_owner_does_not_conflict() -> None:
    live = apply(None, deployment({"name": "app", "image": "app:1", "args": ["-v"]}), "alice")
    live = apply(live, deployment({"name": "app", "image": "app:1"}), "bob")
    assert containers(live) == [{"name": "app", "image": "app:1", "args": ["-v"]}]


# -- conflicts and force -------------------------------------------------------------------------


def test_different_value_for_a_field_another_manager_owns_conflicts() -> None:
    live = apply(None, deployment({"name": "app", "image": "app:1"}, replicas=2), "alice")
    with pytest.raises(ApplyConflict) as info:
        apply(live, deployment({"name": "app", "image": "app:1"}, replicas=5), "bob")
    assert info.value.conflicts == [("alice", ".spec.replicas")]
    assert (
        str(info.value) == 'Apply failed with 1 conflict: conflict with "alice" using apps/v1: .spec.replicas'
    )
    assert info.value.code == 409
    assert isinstance(info.value, MergeError) and isinstance(info.value, FluxError)


def test_conflicts_list_every_field_with_list_items_by_key() -> None:
    live = apply(None, deployment({"name": "app", "image": "app:1"}, replicas=2), "alice")
    with pytest.raises(ApplyConflict) as info:
        apply(live, deployment({"name": "app", "image": "app:2"}, replicas=3), "bob")
    assert sorted(info.value.conflicts) == [
        ("alice", ".spec.replicas"),
        ("alice", '.spec.template.spec.containers[name="app"].image'),
    ]
    assert str(info.value) == (
        'Apply failed with 2 conflicts: conflicts with "alice" using apps/v1:\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="app"].image'
    )


def test_conflict_leaves_the_live_object_untouched() -> None:
    live = apply(None, cm(a="1"), "alice")
    before = repr(live)
    with pytest.raises(ApplyConflict):
        apply(live, cm(a="2"), "bob")
    assert repr(live) == before


def test_force_takes_ownership_from_the_other_manager() -> None:
    live = apply(None, cm(a="1", b="1"), "alice")
    live = apply(live, cm(a="2"), "bob", force=True)
    assert live["data"] == {"a": "2", "b": "1"}
    assert fields_of(live, "alice") == {"f:data": {"f:b": {}}}
    assert fields_of(live, "bob") == {"f:data": {"f:a": {}}}


def test_manager_that_lost_a_field_conflicts_on_its_next_apply() -> None:
    live = apply(apply(None, cm(a="1"), "alice"), cm(a="2"), "bob", force=True)
    with pytest.raises(ApplyConflict) as info:
        apply(live, cm(a="1"), "alice")
    assert info.value.conflicts == [("bob", ".data.a")]


def test_force_removes_a_manager_entry_left_with_no_fields() -> None:
    live = apply(apply(None, cm(a="1"), "alice"), cm(a="2"), "bob", force=True)
    assert [e["manager"] for e in live["metadata"]["managedFields"]] == ["bob"]


def test_reapplying_own_fields_never_conflicts() -> None:
    live = apply(None, cm(a="1"), "alice")
    live = apply(live, cm(a="2"), "alice")
    assert live["data"] == {"a": "2"}


# -- removal of fields a manager stops applying --------------------------------------------------


def test_field_dropped_from_the_applied_config_is_removed() -> None:
    live = apply(apply(None, cm(a="1", b="2"), "alice"), cm(a="1"), "alice")
    assert live["data"] == {"a": "1"}
    assert fields_of(live, "alice") == {"f:data": {"f:a": {}}}


def test_field_set_by_an_update_is_not_removed_by_apply() -> None:
    live = apply(None, cm(a="1"), "alice")
    edited = record_update(live, {**live, "data": {"a": "1", "x": "hand"}}, "kubectl-edit")
    live = apply(edited, cm(a="1"), "alice")
    assert live["data"] == {"a": "1", "x": "hand"}


def test_dropped_list_item_is_removed_whole() -> None:
    live = apply(None, deployment({"name": "app", "image": "app:1"}), "alice")
    live = apply(live, deployment({"name": "sidecar", "image": "proxy:1", "args": ["-q"]}), "bob")
    assert [c["name"] for c in containers(live)] == ["app", "sidecar"]
    for _ in range(3):  # every path order gives the same answer
        dropped = apply(live, deployment(), "bob")
        assert containers(dropped) == [{"name": "app", "image": "app:1"}]


def test_item_with_a_field_another_manager_changed_stays_with_its_key() -> None:
    live = apply(
        None, deployment({"name": "app", "image": "app:1"}, {"name": "side", "image": "s:1"}), "alice"
    )
    new = apply(None, deployment({"name": "app", "image": "app:1"}, {"name": "side", "image": "s:2"}), "x")
    new["metadata"].pop("managedFields")
    live = record_update(live, new, "kubectl-set-image")
    live = apply(live, deployment({"name": "app", "image": "app:1"}), "alice")
    assert containers(live) == [{"name": "app", "image": "app:1"}, {"name": "side", "image": "s:2"}]


# -- list merge strategies -----------------------------------------------------------------------


def test_associative_list_merges_items_by_key() -> None:
    live = apply(None, deployment({"name": "app", "image": "app:1"}), "alice")
    live = apply(live, deployment({"name": "sidecar", "image": "proxy:1"}), "bob")
    assert containers(live) == [{"name": "app", "image": "app:1"}, {"name": "sidecar", "image": "proxy:1"}]
    assert 'k:{"name":"sidecar"}' in fields_of(live, "bob")["f:spec"]["f:template"]["f:spec"]["f:containers"]


def test_items_nested_in_items_merge_by_their_own_keys() -> None:
    first = {"name": "app", "image": "a", "env": [{"name": "A", "value": "1"}]}
    live = apply(None, deployment(first), "alice")
    live = apply(live, deployment({"name": "app", "env": [{"name": "B", "value": "2"}]}), "bob")
    assert containers(live)[0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]


def test_multi_key_items_differ_by_any_key() -> None:
    def ported(*ports: tuple[int, str]) -> dict[str, Any]:
        return deployment(
            {"name": "app", "ports": [{"containerPort": p, "protocol": proto} for p, proto in ports]}
        )

    live = apply(None, ported((53, "TCP")), "alice")
    live = apply(live, ported((53, "UDP")), "bob")
    assert containers(live)[0]["ports"] == [
        {"containerPort": 53, "protocol": "TCP"},
        {"containerPort": 53, "protocol": "UDP"},
    ]
    item = fields_of(live, "bob")["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"app"}']
    assert 'k:{"containerPort":53,"protocol":"UDP"}' in item["f:ports"]


def test_set_list_merges_members_and_removes_only_the_managers_own() -> None:
    def finalized(*names: str) -> dict[str, Any]:
        obj = cm()
        obj["metadata"]["finalizers"] = list(names)
        return obj

    live = apply(apply(None, finalized("a/x"), "alice"), finalized("b/y"), "bob")
    assert live["metadata"]["finalizers"] == ["a/x", "b/y"]
    assert fields_of(live, "bob")["f:metadata"] == {"f:finalizers": {'v:"b/y"': {}}}
    live = apply(live, finalized(), "bob")
    assert live["metadata"]["finalizers"] == ["a/x"]


def test_atomic_list_is_replaced_whole_and_owned_as_one_field() -> None:
    live = apply(None, deployment({"name": "app", "args": ["a", "b"]}), "alice")
    item = fields_of(live, "alice")["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"app"}']
    assert item["f:args"] == {}
    with pytest.raises(ApplyConflict) as info:
        apply(live, deployment({"name": "app", "args": ["c"]}), "bob")
    assert info.value.conflicts == [("alice", '.spec.template.spec.containers[name="app"].args')]
    live = apply(live, deployment({"name": "app", "args": ["c"]}), "alice")
    assert containers(live)[0]["args"] == ["c"]


def test_tolerations_are_atomic() -> None:
    obj = deployment({"name": "app"})
    obj["spec"]["template"]["spec"]["tolerations"] = [{"key": "a", "operator": "Exists"}]
    live = apply(None, obj, "alice")
    obj["spec"]["template"]["spec"]["tolerations"] = [{"key": "b", "operator": "Exists"}]
    live = apply(live, obj, "alice")
    assert live["spec"]["template"]["spec"]["tolerations"] == [{"key": "b", "operator": "Exists"}]


def test_labels_are_granular() -> None:
    def labelled(**labels: str) -> dict[str, Any]:
        obj = cm()
        obj["metadata"]["labels"] = labels
        return obj

    live = apply(apply(None, labelled(team="a"), "alice"), labelled(tier="web"), "bob")
    assert live["metadata"]["labels"] == {"team": "a", "tier": "web"}


# -- schemas ---------------------------------------------------------------------------------------


def test_builtin_schemas_know_the_merge_keys_that_matter() -> None:
    pod = schema_for("v1", "Pod")
    assert pod.list_type(("spec", "containers")).keys == ("name",)
    assert pod.list_type(("spec", "containers", "ports")).keys == ("containerPort", "protocol")
    assert pod.list_type(("spec", "containers", "volumeMounts")).keys == ("mountPath",)
    assert pod.list_type(("spec", "tolerations")).kind == "atomic"
    assert schema_for("v1", "Service").list_type(("spec", "ports")).keys == ("port", "protocol")
    assert DEPLOY.list_type(("status", "conditions")).keys == ("type",)
    assert DEPLOY.list_type(("metadata", "ownerReferences")).keys == ("uid",)
    assert schema_for("rbac.authorization.k8s.io/v1", "Role").list_type(("rules",)).kind == "atomic"


def test_unknown_type_has_atomic_lists_and_granular_maps() -> None:
    schema = schema_for("example.com/v1", "Widget")
    assert schema.list_type(("spec", "containers")).kind == "atomic"
    assert schema.list_type(("metadata", "finalizers")).kind == "set"
    assert not schema.is_atomic_map(("spec", "selector"))


CRD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "targets": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                },
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "args": {"type": "array", "items": {"type": "string"}},
                "selector": {"type": "object", "x-kubernetes-map-type": "atomic"},
            },
        }
    },
}


def crd(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}


def test_crd_schema_extensions_drive_the_merge() -> None:
    schema = schema_from_crd(CRD_SCHEMA)
    live = server_side_apply(
        None, crd(targets=[{"name": "a", "w": 1}], tags=["x"]), "alice", force=False, schema=schema
    )
    live = server_side_apply(
        live, crd(targets=[{"name": "b", "w": 2}], tags=["y"]), "bob", force=False, schema=schema
    )
    assert live["spec"]["targets"] == [{"name": "a", "w": 1}, {"name": "b", "w": 2}]
    assert live["spec"]["tags"] == ["x", "y"]


def test_crd_atomic_map_is_owned_and_replaced_whole() -> None:
    schema = schema_from_crd(CRD_SCHEMA)
    live = server_side_apply(None, crd(selector={"a": "1"}), "alice", force=False, schema=schema)
    assert fields_of(live, "alice") == {"f:spec": {"f:selector": {}}}
    with pytest.raises(ApplyConflict):
        server_side_apply(live, crd(selector={"b": "2"}), "bob", force=False, schema=schema)
    live = server_side_apply(live, crd(selector={"b": "2"}), "alice", force=False, schema=schema)
    assert live["spec"]["selector"] == {"b": "2"}


def test_crd_lists_without_extension_are_atomic() -> None:
    assert schema_from_crd(CRD_SCHEMA).list_type(("spec", "args")).kind == "atomic"
    assert isinstance(schema_from_crd({}), TypeSchema)


def test_apply_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(MergeError) as info:
        server_side_apply(None, ["x"], "alice", force=False, schema=CM)  # type: ignore[arg-type]
    assert info.value.code == 400


# -- non-apply writes ------------------------------------------------------------------------------


def test_update_gives_the_writer_changed_fields_and_takes_them_from_others() -> None:
    live = apply(None, cm(a="1", b="1"), "alice")
    new = {**live, "data": {"a": "2", "b": "1"}}
    updated = record_update(live, new, "editor")
    assert fields_of(updated, "editor", "Update") == {"f:data": {"f:a": {}}}
    assert fields_of(updated, "alice") == {"f:data": {"f:b": {}}}


def test_create_by_update_owns_everything_it_set() -> None:
    created = record_update(None, cm(a="1"), "kubectl-create")
    (entry,) = created["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"]) == ("kubectl-create", "Update")
    assert entry["fieldsV1"] == {"f:data": {"f:a": {}}}


def test_removed_field_leaves_every_manager() -> None:
    live = apply(None, cm(a="1", b="1"), "alice")
    updated = record_update(live, {**live, "data": {"a": "1"}}, "editor")
    assert fields_of(updated, "alice") == {"f:data": {"f:a": {}}}
    assert fields_of(updated, "editor", "Update") == {}


def test_update_of_an_item_field_keeps_the_item_with_its_owner() -> None:
    live = apply(None, deployment({"name": "app", "image": "app:1"}), "alice")
    new = apply(None, deployment({"name": "app", "image": "app:2"}), "x")
    new["metadata"] = live["metadata"]
    updated = record_update(live, new, "kubectl-set-image")
    mine = fields_of(updated, "kubectl-set-image", "Update")
    assert mine["f:spec"]["f:template"]["f:spec"]["f:containers"] == {'k:{"name":"app"}': {"f:image": {}}}
    alice = fields_of(updated, "alice")["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"app"}']
    assert alice == {".": {}, "f:name": {}}


def test_port_without_protocol_matches_the_defaulted_tcp_port() -> None:
    tcp = {"containerPort": 80, "protocol": "TCP"}
    live = apply(None, deployment({"name": "app", "ports": [tcp]}), "alice")
    live = apply(live, deployment({"name": "app", "ports": [{"containerPort": 80, "name": "http"}]}), "bob")
    assert containers(live)[0]["ports"] == [{"containerPort": 80, "protocol": "TCP", "name": "http"}]
    item = fields_of(live, "bob")["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"app"}']
    assert list(item["f:ports"]) == ['k:{"containerPort":80,"protocol":"TCP"}']


def test_label_selector_is_an_atomic_map() -> None:
    live = apply(None, deployment({"name": "app"}), "alice")
    assert fields_of(live, "alice")["f:spec"]["f:selector"] == {}
    other = deployment({"name": "app"})
    other["spec"]["selector"] = {"matchLabels": {"app": "web", "extra": "x"}}
    with pytest.raises(ApplyConflict) as info:
        apply(live, other, "bob")
    assert info.value.conflicts == [("alice", ".spec.selector")]


def test_conflict_names_an_update_manager_with_its_api_version_and_subresource() -> None:
    live = apply(None, cm(a="1"), "alice")
    edited = record_update(live, {**live, "data": {"a": "2"}}, "ctl")
    with pytest.raises(ApplyConflict) as info:
        apply(edited, cm(a="3"), "alice")
    assert str(info.value) == 'Apply failed with 1 conflict: conflict with "ctl" using v1: .data.a'
    obj = cm()
    obj["status"] = {"phase": "A"}
    live = server_side_apply(None, obj, "ctl", force=False, schema=CM, subresource="status")
    obj["status"] = {"phase": "B"}
    with pytest.raises(ApplyConflict) as info:
        server_side_apply(live, obj, "other", force=False, schema=CM, subresource="status")
    assert 'conflict with "ctl" with subresource "status" using v1: .status.phase' in str(info.value)


def test_replicas_handed_to_an_autoscaler_survive_the_users_next_apply() -> None:
    """The documentation's "transferring ownership" case: user -> HPA for spec.replicas."""
    live = apply(None, deployment({"name": "app"}, replicas=3), "user")
    scaled = apply(None, deployment({"name": "app"}, replicas=5), "x")
    scaled["metadata"] = live["metadata"]
    live = record_update(live, scaled, "hpa")
    assert "f:replicas" not in fields_of(live, "user")["f:spec"]
    live = apply(live, deployment({"name": "app"}), "user")  # replicas no longer in the config
    assert live["spec"]["replicas"] == 5
    with pytest.raises(ApplyConflict) as info:
        apply(live, deployment({"name": "app"}, replicas=3), "user")
    assert info.value.conflicts == [("hpa", ".spec.replicas")]


def test_manager_that_stops_applying_everything_leaves_managed_fields() -> None:
    live = apply(apply(None, cm(a="1"), "alice"), cm(b="2"), "bob")
    bare = cm()
    del bare["data"]
    live = apply(live, bare, "bob")
    assert live["data"] == {"a": "1"}
    assert [e["manager"] for e in live["metadata"]["managedFields"]] == ["alice"]


def test_apply_never_changes_its_inputs() -> None:
    live = apply(None, deployment({"name": "app", "image": "a:1"}, {"name": "side"}), "alice")
    config = deployment({"name": "app", "image": "a:2"})
    live_before, config_before = repr(live), repr(config)
    apply(live, config, "alice")
    assert (repr(live), repr(config)) == (live_before, config_before)


def test_server_set_metadata_in_the_config_does_not_replace_the_live_values() -> None:
    live = apply(None, cm(a="1"), "alice")
    live["metadata"].update(uid="live-uid", resourceVersion="7")
    config = cm(a="2")
    config["metadata"].update(uid="other", resourceVersion="1", creationTimestamp="2000-01-01T00:00:00Z")
    live = apply(live, config, "alice")
    assert (live["metadata"]["uid"], live["metadata"]["resourceVersion"]) == ("live-uid", "7")
    assert "creationTimestamp" not in live["metadata"] and live["data"] == {"a": "2"}


def test_shared_field_changed_by_one_owner_conflicts_with_the_other() -> None:
    live = apply(apply(None, cm(a="1"), "alice"), cm(a="1"), "bob")
    with pytest.raises(ApplyConflict) as info:
        apply(live, cm(a="2"), "alice")
    assert info.value.conflicts == [("bob", ".data.a")]


def test_applied_item_without_its_key_field_is_refused() -> None:
    with pytest.raises(MergeError) as info:
        apply(None, deployment({"image": "nameless:1"}), "alice")
    assert str(info.value) == (
        "Deployment/ns/web: .spec.template.spec.containers: element 0: associative list with keys has an "
        'element that omits key field "name" (and doesn\'t have default value); set name on every item'
    )
    assert info.value.code == 422


def test_new_list_items_are_copied_not_shared_with_the_config() -> None:
    live = apply(None, deployment({"name": "app"}), "alice")
    config = deployment({"name": "side", "image": "s:1"})
    live = apply(live, config, "bob")
    containers(live)[1]["image"] = "changed"
    assert containers(config)[0]["image"] == "s:1"


def test_crd_rules_reach_values_of_additional_properties_maps() -> None:
    target_list = {
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        "items": {"type": "object"},
    }
    schema = schema_from_crd(
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "groups": {
                            "type": "object",
                            "additionalProperties": {"properties": {"targets": target_list}},
                        },
                        "labels": {
                            "type": "object",
                            "additionalProperties": {"type": "object", "x-kubernetes-map-type": "atomic"},
                        },
                    },
                }
            },
        }
    )
    assert schema.list_type(("spec", "groups", "blue", "targets")).keys == ("name",)
    assert schema.list_type(("spec", "groups", "targets")).kind == "atomic"
    assert schema.is_atomic_map(("spec", "labels", "x")) and not schema.is_atomic_map(("spec", "labels"))
    live = server_side_apply(
        None, crd(groups={"blue": {"targets": [{"name": "a"}]}}), "alice", force=False, schema=schema
    )
    live = server_side_apply(
        live, crd(groups={"blue": {"targets": [{"name": "b"}]}}), "bob", force=False, schema=schema
    )
    assert live["spec"]["groups"]["blue"]["targets"] == [{"name": "a"}, {"name": "b"}]


def test_crd_map_list_without_keys_is_atomic() -> None:
    schema = schema_from_crd(
        {"type": "object", "properties": {"l": {"type": "array", "x-kubernetes-list-type": "map"}}}
    )
    assert schema.list_type(("l",)).kind == "atomic"


def test_null_in_the_config_is_not_specified_so_a_previously_applied_value_goes() -> None:
    live = apply(None, cm(a="1", b="2"), "alice")
    config: dict[str, Any] = cm(a="1")
    config["data"]["b"] = None
    live = apply(live, config, "alice")
    assert live["data"] == {"a": "1"} and fields_of(live, "alice") == {"f:data": {"f:a": {}}}
    created = apply(None, {**cm(), "data": {"x": None, "y": "1"}}, "bob")
    assert created["data"] == {"y": "1"}


def test_nulls_inside_new_list_items_are_dropped_too() -> None:
    live = apply(None, deployment({"name": "app", "image": "a:1", "resources": None}), "alice")
    assert containers(live) == [{"name": "app", "image": "a:1"}]


# -- managedFields set by the writer, untracked objects, no-op writes -----------------------------


def entry(manager: str, operation: str, fields: dict[str, Any], time: str = "") -> dict[str, Any]:
    result = {
        "manager": manager,
        "operation": operation,
        "apiVersion": "v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
    return {**result, "time": time} if time else result


def test_update_that_sets_managed_fields_replaces_them_as_sent() -> None:
    """What Flux's apply cleanup does: hand kubectl's fields to its own Apply entry with a JSON patch."""
    live = record_update(None, cm(a="1", b="1"), "kubectl-client-side-apply")
    handed = [entry("flux", "Apply", {"f:data": {"f:a": {}, "f:b": {}}}, "2024-01-01T00:00:00Z")]
    updated = record_update(live, {**live, "metadata": {**live["metadata"], "managedFields": handed}}, "flux")
    assert updated["metadata"]["managedFields"] == handed
    dropped = apply(updated, cm(a="1"), "flux")  # flux owns b now, so dropping it removes it
    assert dropped["data"] == {"a": "1"}


@pytest.mark.parametrize("reset", [[], [{}]], ids=["empty list", "one empty entry"])
def test_reset_clears_managed_fields_and_later_updates_are_not_tracked(reset: list[Any]) -> None:
    live = apply(None, cm(a="1"), "alice")
    cleared = record_update(live, {**live, "metadata": {**live["metadata"], "managedFields": reset}}, "x")
    assert "managedFields" not in cleared["metadata"]
    edited = record_update(cleared, {**cleared, "data": {"a": "2"}}, "editor")
    assert "managedFields" not in edited["metadata"]


def deep_trie(depth: int) -> dict[str, Any]:
    """``f:a`` nested ``depth`` times, ending in a leaf that is not an object."""
    trie: dict[str, Any] = {"f:b": "leaf"}
    for _ in range(depth):
        trie = {"f:a": trie}
    return trie


BAD_MANAGED_FIELDS = {
    "not a list": "nope",
    "entry not an object": ["x"],
    "unknown operation": [{**entry("m", "Apply", {}), "operation": "Replace"}],
    "no apiVersion": [{k: v for k, v in entry("m", "Apply", {}).items() if k != "apiVersion"}],
    "other fieldsType": [{**entry("m", "Apply", {}), "fieldsType": "FieldsV2"}],
    "fieldsV1 not a trie": [entry("m", "Apply", {"f:data": 1})],
    "unknown path element": [entry("m", "Apply", {"x:data": {}})],
    "deep trie with a bad leaf": [entry("m", "Apply", deep_trie(5000))],
}


@pytest.mark.parametrize("supplied", BAD_MANAGED_FIELDS.values(), ids=BAD_MANAGED_FIELDS)
def test_managed_fields_the_server_cannot_decode_keep_the_live_ones(supplied: Any) -> None:
    live = apply(None, cm(a="1"), "alice")
    updated = record_update(live, {**live, "metadata": {**live["metadata"], "managedFields": supplied}}, "x")
    assert updated["metadata"]["managedFields"] == live["metadata"]["managedFields"]


def test_first_apply_to_an_unmanaged_object_conflicts_with_before_first_apply() -> None:
    live = apply(None, cm(a="1", b="1"), "alice")
    unmanaged = record_update(live, {**live, "metadata": {**live["metadata"], "managedFields": [{}]}}, "x")
    with pytest.raises(ApplyConflict) as info:
        apply(unmanaged, cm(a="2"), "flux")
    assert info.value.conflicts == [("before-first-apply", ".data.a")]
    forced = apply(unmanaged, cm(a="2"), "flux", force=True)
    assert fields_of(forced, "before-first-apply", "Update") == {"f:data": {"f:b": {}}}
    assert fields_of(forced, "flux") == {"f:data": {"f:a": {}}}


def test_entries_are_in_the_api_servers_order() -> None:
    live = apply(None, cm(a="1"), "zed")
    live = record_update(live, {**live, "data": {"a": "1", "b": "2"}}, "alpha")
    live = apply(live, cm(c="3"), "bob")
    order = [(e["operation"], e["manager"]) for e in live["metadata"]["managedFields"]]
    assert order[-1] == ("Update", "alpha")  # Apply before Update, whatever the times
    assert {m for op, m in order if op == "Apply"} == {"zed", "bob"}


def test_write_that_changes_nothing_keeps_every_entry_and_time() -> None:
    old = entry("alice", "Apply", {"f:data": {"f:a": {}}}, "2020-01-01T00:00:00Z")
    status = {
        **entry("ctl", "Update", {"f:status": {"f:phase": {}}}, "2021-01-01T00:00:00Z"),
        "subresource": "status",
    }
    live = {**cm(a="1"), "status": {"phase": "Ready"}}
    live["metadata"]["managedFields"] = [old, status]
    assert apply(live, cm(a="1"), "alice") == live
    assert record_update(live, {**live, "data": {"a": "1"}}, "editor") == live
    assert record_update(live, live, "alice") == live
