"""What every verb shares: the store, schemas, identity and schema checks, and the write path.

Each verb lives in its own module as a mixin over :class:`Verbs` (the shape of fluxcd/pkg
``ssa``: one manager, one file per operation); :class:`~flux_devkit.sandbox.verbs.ResourceApi`
combines them.
"""

from __future__ import annotations

import builtins
import copy
import threading
import uuid
from collections.abc import Callable
from typing import Any

from flux_devkit.sandbox import (
    builtin_types,
    crds,
    defaults,
    merge,
    structural,
    validation,
)
from flux_devkit.sandbox.network.addresses import SERVICE_NETWORK, AddressPool
from flux_devkit.sandbox.resources import ResourceTable, ResourceType
from flux_devkit.sandbox.selectors import field_selector, label_selector
from flux_devkit.sandbox.status import ApiError, bad_request, conflict, invalid, not_found
from flux_devkit.sandbox.store import Store
from flux_devkit.sandbox.verbs.call import CRD_GROUP, STALE, Call, now


def _spec_part(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """What counts for metadata.generation: everything but metadata (and status when it is a subresource)."""
    skip = {"metadata", "status"} if rt.status else {"metadata"}
    return {k: v for k, v in obj.items() if k not in skip}


_OMITTED_WHEN_EMPTY = ("labels", "annotations", "finalizers", "ownerReferences")


class Verbs:
    """State and helpers over one :class:`Store` and :class:`ResourceTable`; the verbs extend it."""

    def __init__(self, store: Store, table: ResourceTable, service_network: str = SERVICE_NETWORK) -> None:
        self.store = store
        self.table = table
        self.service_ips = AddressPool(service_network)
        self._schemas: dict[tuple[str, str, str], Any] = {}
        self.stopping = threading.Event()

    # -- helpers --------------------------------------------------------------------------------
    def _out(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        if obj.get("apiVersion") == rt.api_version:
            return obj
        return {**obj, "apiVersion": rt.api_version}

    def _schema(self, rt: ResourceType) -> Any:
        key = (rt.group, rt.version, rt.plural)
        if key not in self._schemas:
            if rt.schema is not None or rt.group not in self.table.builtin_groups:
                self._schemas[key] = merge.schema_from_crd(rt.schema or {})
            else:
                self._schemas[key] = merge.schema_for(rt.api_version, rt.kind)
        return self._schemas[key]

    def _existing(self, call: Call) -> dict[str, Any]:
        obj = self.store.get(call.rt.group, call.rt.plural, call.namespace, call.name)
        if obj is None:
            raise not_found(call.rt.group, call.rt.plural, call.name)
        return obj

    def _record(self, call: Call, old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
        """managedFields bookkeeping for create, update and the non-apply patches."""
        return merge.record_update(
            old,
            new,
            call.manager,
            operation="Update",
            subresource=call.subresource,
            schema=self._schema(call.rt),
        )

    def _check_namespace(self, call: Call) -> None:
        if not call.rt.namespaced:
            return
        ns = self.store.get("", "namespaces", "", call.namespace)
        if ns is None:
            raise not_found("", "namespaces", call.namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                f'{call.rt.plural} "{call.name}" is forbidden: unable to create new content in namespace '
                f"{call.namespace} because it is being terminated",
                details={"name": call.name, "kind": call.rt.plural, "group": call.rt.group},
            )

    def _check_identity(self, call: Call, obj: Any, *, url_name: bool) -> dict[str, Any]:
        """The body must be an object of this kind, for this namespace and (on update) this name."""
        rt = call.rt
        if not isinstance(obj, dict):
            raise bad_request(f"the body of the request must be a {rt.kind} object, not {type(obj).__name__}")
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if api_version and api_version != rt.api_version:
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({rt.api_version})"
            )
        if kind and kind != rt.kind:
            raise bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise bad_request(f"{call.where()}: metadata must be an object")
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        if rt.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and body_ns != call.namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = call.namespace
        else:
            meta.pop("namespace", None)
        if url_name and meta.get("name") != call.name:
            if not meta.get("name") and call.name:
                meta["name"] = call.name
            else:
                raise bad_request(
                    f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                    f"({call.name})"
                )
        return obj

    def _conform(self, call: Call, obj: dict[str, Any], *, check_values: bool = True) -> dict[str, Any]:
        """Decode a built-in kind by its Go types, or prune a custom resource to its schema.

        Unknown fields are dropped, reported as warnings, or refused under fieldValidation=Strict.
        Empty metadata maps and lists go, as Go's ``omitempty`` drops them from every ObjectMeta.
        """
        rt = call.rt
        meta = obj.get("metadata")
        if isinstance(meta, dict):
            for key in _OMITTED_WHEN_EMPTY:
                if key in meta and meta[key] in ({}, [], None):
                    del meta[key]
        if rt.schema is not None:
            pruned, found = structural.conform(obj, rt.schema, fill_defaults=check_values)
            unknown, invalid_values = found.unknown, found.invalid if check_values else []
        elif (model := self._model(rt)) is not None:
            decoded = builtin_types.decode(obj, model)
            if decoded.error:
                raise bad_request(self._undecodable(rt, decoded.error))
            pruned, unknown, invalid_values = decoded.value, decoded.unknown, []
        else:
            return obj
        mode = call.query.get("fieldValidation", "Warn")
        if unknown and mode == "Strict":
            fields = ", ".join(f'unknown field "{path}"' for path in unknown)
            raise bad_request(self._undecodable(rt, f"strict decoding error: {fields}"))
        if mode == "Warn":
            call.warnings += [f'unknown field "{path}"' for path in unknown]
        if invalid_values:
            name = obj.get("metadata", {}).get("name", call.name)
            raise invalid(rt.qualified_kind, rt.group, rt.kind, name, invalid_values)
        return pruned

    def _model(self, rt: ResourceType) -> type | None:
        if rt.group not in self.table.builtin_groups:
            return None
        return builtin_types.model_for(rt.group, rt.version, rt.kind)

    @staticmethod
    def _undecodable(rt: ResourceType, reason: str) -> str:
        return f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: {reason}'

    def _filters(self, query: dict[str, str]) -> builtins.list[Callable[[dict[str, Any]], bool]]:
        filters = []
        if query.get("labelSelector"):
            filters.append(label_selector(query["labelSelector"]))
        if query.get("fieldSelector"):
            filters.append(field_selector(query["fieldSelector"]))
        return filters

    def _prepare_new(self, call: Call, obj: dict[str, Any]) -> dict[str, Any]:
        rt, meta = call.rt, obj["metadata"]
        for key in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(key, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        if rt.has_generation:
            meta["generation"] = 1
        if rt.status:
            obj.pop("status", None)
        validation.check_labels(rt, obj)
        if rt.group == "" and rt.kind == "Service":
            self._check_cluster_ip(obj)
        defaults.on_create(rt.group, rt.kind, obj, cluster_ip=self._cluster_ip)
        defaults.on_write(rt.group, rt.kind, obj)
        if rt.group == CRD_GROUP:
            crds.check_definition(obj)
            obj["status"] = crds.accepted_status(obj, meta["creationTimestamp"])
        return obj

    def _cluster_ip(self) -> str:
        """A free address of the service network (the object that gets it holds it from then on)."""
        address = self.service_ips.allocate(self.store.holds_address)
        self.service_ips.release(address)
        return address

    def _check_cluster_ip(self, service: dict[str, Any]) -> None:
        """A clusterIP given in the manifest must lie in the service network, as the API server checks."""
        given = (service.get("spec") or {}).get("clusterIP")
        if not given or given == "None" or given in self.service_ips:
            return
        network = self.service_ips.network
        raise invalid(
            "Service",
            "",
            "Service",
            service["metadata"].get("name", ""),
            [
                (
                    "spec.clusterIPs",
                    f'Invalid value: ["{given}"]: failed to allocate IP {given}: provided IP is not in '
                    f"the valid range. The range of valid IPs is {network}",
                )
            ],
        )

    def _commit_new(self, call: Call, obj: dict[str, Any]) -> dict[str, Any]:
        if call.dry_run:
            return self._out(call.rt, obj)
        stored = self.store.put(call.rt.group, call.rt.plural, obj, "ADDED")
        if call.rt.group == CRD_GROUP:
            self.table.add_custom(crds.served_types(stored))
        return self._out(call.rt, stored)

    def _replace(self, call: Call, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        """``old`` replaced by ``new`` (PUT and non-apply PATCH), under the caller's store lock."""
        rv = new["metadata"].get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise conflict(call.rt.group, call.rt.plural, call.name, STALE)
        new = self._merge_subresource(call, old, new)
        new = self._record(call, old, new)
        return self._answer(call, self._commit_update(call, old, new))

    def _merge_subresource(self, call: Call, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        """Status writes change only status; main-resource writes never change status (when a subresource)."""
        if call.subresource == "status":
            return {**old, "status": new.get("status"), "metadata": {**old["metadata"], **_fm(new)}}
        if call.rt.status and "status" in old:
            new["status"] = old["status"]
        elif call.rt.status:
            new.pop("status", None)
        return new

    def _commit_update(self, call: Call, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        rt, meta, old_meta = call.rt, new["metadata"], old["metadata"]
        for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if call.subresource != "status":
            defaults.on_write(rt.group, rt.kind, new)
            validation.check_labels(rt, new)
            validation.check_update(rt, old, new)
            if rt.group == CRD_GROUP:
                crds.check_definition(new)
        if rt.has_generation:
            generation = old_meta.get("generation", 1)
            meta["generation"] = generation + 1 if _spec_part(rt, new) != _spec_part(rt, old) else generation
        if new == old:  # a no-op write persists nothing: same resourceVersion, no watch event
            return self._out(rt, old)
        if call.dry_run:
            return self._out(rt, new)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return self._out(rt, self._remove(rt, new))
        stored = self.store.put(rt.group, rt.plural, new, "MODIFIED")
        if rt.group == CRD_GROUP:
            self.table.add_custom(crds.served_types(stored))
        return self._out(rt, stored)

    # -- scale ----------------------------------------------------------------------------------
    def _answer(self, call: Call, obj: dict[str, Any]) -> dict[str, Any]:
        """What a write answers with: the object, or its Scale for the scale subresource."""
        return self._scale_of(call.rt, obj) if call.subresource == "scale" else obj

    def _scale_of(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        selector = (obj.get("spec") or {}).get("selector") or {}
        labels = selector.get("matchLabels") or {}
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            },
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
            "status": {
                "replicas": (obj.get("status") or {}).get("replicas", 0),
                "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
            },
        }

    def _apply_scale(self, call: Call, old: dict[str, Any], scale: Any) -> dict[str, Any]:
        if not isinstance(scale, dict) or not isinstance((scale.get("spec") or {}).get("replicas", 0), int):
            raise bad_request("the body must be an autoscaling/v1 Scale with an integer spec.replicas")
        new = copy.deepcopy(old)
        new.setdefault("spec", {})["replicas"] = scale.get("spec", {}).get("replicas", 0)
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        if rv:
            new["metadata"]["resourceVersion"] = rv
        return new

    def _remove(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        gone = self.store.remove(rt.group, rt.plural, meta.get("namespace", ""), meta["name"]) or obj
        if rt.group == CRD_GROUP:
            spec = obj.get("spec") or {}
            plural = (spec.get("names") or {}).get("plural", "")
            self.table.remove_custom(spec.get("group", ""), plural)
            self.store.drop_type(spec.get("group", ""), plural)
        namespace = meta.get("namespace")
        if namespace:
            self._finish_namespace(namespace)
        return gone

    def _finish_namespace(self, name: str) -> None:
        """Remove a terminating namespace once nothing is left in it."""
        ns = self.store.get("", "namespaces", "", name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        for group, plural in self.store.types():
            rt = self.table.find(group, plural)
            if rt is not None and rt.namespaced and self.store.list(group, plural, name):
                return
        self.store.remove("", "namespaces", "", name)


def _fm(new: dict[str, Any]) -> dict[str, Any]:
    """managedFields carried over from a status write (the merge library records them)."""
    managed = new.get("metadata", {}).get("managedFields")
    return {"managedFields": managed} if managed is not None else {}
