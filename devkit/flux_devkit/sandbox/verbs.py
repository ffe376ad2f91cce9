"""The resource verbs — get, list, watch, create, update, patch, delete — with API-server semantics.

Transport-free: :class:`ResourceApi` takes a parsed :class:`Call` and returns
``(code, body)``; the HTTP layer does auth, routing and encoding. Writes hold the
store lock for their read-modify-write so concurrent clients see serializable updates.
"""

from __future__ import annotations

import builtins
import copy
import datetime
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import yaml

from flux_devkit.sandbox import (
    builtin_types,
    crds,
    defaults,
    merge,
    protobuf,
    structural,
    validation,
)
from flux_devkit.sandbox.resources import ResourceTable, ResourceType
from flux_devkit.sandbox.selectors import field_selector, label_selector
from flux_devkit.sandbox.status import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    invalid,
    not_found,
    success,
)
from flux_devkit.sandbox.store import Event, Store

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
CRD_GROUP = "apiextensions.k8s.io"
STALE = "the object has been modified; please apply your changes to the latest version and try again"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Call:
    """One resource request after routing: which type, where, which subresource, which options."""

    rt: ResourceType
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    query: dict[str, str] = field(default_factory=dict)
    manager: str = "unknown"
    warnings: builtins.list[str] = field(default_factory=list)  # sent back as Warning headers

    def flag(self, key: str) -> bool:
        """A boolean query parameter, parsed like Go's strconv.ParseBool (clients send true/True/1)."""
        return self.query.get(key, "").lower() in ("1", "t", "true")

    @property
    def dry_run(self) -> bool:
        return self.query.get("dryRun") == "All"

    def where(self) -> str:
        return (
            f"{self.rt.kind}/{self.namespace}/{self.name}"
            if self.namespace
            else f"{self.rt.kind}/{self.name}"
        )


def decode_body(raw: bytes, content_type: str = "application/json") -> Any:
    """Parse a JSON or YAML request body; 400 with the parser's position (never a traceback) if malformed."""
    if "protobuf" in content_type:
        return protobuf.decode(raw)
    if "cbor" in content_type:
        raise ApiError(
            415,
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json, application/yaml, application/vnd.kubernetes.protobuf",
        )
    if not raw.strip():
        raise bad_request("the request body is empty; send the object as JSON")
    try:
        if "yaml" in content_type:
            return yaml.load(raw, Loader=_YAML_LOADER)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as err:
        kind = "YAML" if "yaml" in content_type else "JSON"
        raise bad_request(f"the body of the request could not be decoded as {kind}: {err}") from None


def _timeless(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without managedFields timestamps: a write that changes only those is a no-op."""
    managed = obj.get("metadata", {}).get("managedFields")
    if not managed:
        return obj
    entries = [{k: v for k, v in e.items() if k != "time"} for e in managed]
    return {**obj, "metadata": {**obj["metadata"], "managedFields": entries}}


def _spec_part(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """What counts for metadata.generation: everything but metadata (and status when it is a subresource)."""
    skip = {"metadata", "status"} if rt.status else {"metadata"}
    return {k: v for k, v in obj.items() if k not in skip}


class ResourceApi:
    """Verbs over one :class:`Store` and :class:`ResourceTable`."""

    def __init__(self, store: Store, table: ResourceTable) -> None:
        self.store = store
        self.table = table
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
        """
        rt = call.rt
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

    # -- read -----------------------------------------------------------------------------------
    def get(self, call: Call) -> dict[str, Any]:
        obj = self._existing(call)
        if call.subresource == "scale":
            return self._scale_of(call.rt, obj)
        return self._out(call.rt, obj)

    def _filters(self, query: dict[str, str]) -> builtins.list[Callable[[dict[str, Any]], bool]]:
        filters = []
        if query.get("labelSelector"):
            filters.append(label_selector(query["labelSelector"]))
        if query.get("fieldSelector"):
            filters.append(field_selector(query["fieldSelector"]))
        return filters

    def list(self, call: Call) -> dict[str, Any]:
        rt = call.rt
        filters = self._filters(call.query)
        with self.store.lock:
            rv = self.store.resource_version
            items = self.store.list(
                rt.group, rt.plural, call.namespace if rt.namespaced and call.namespace else None
            )
        items = [self._out(rt, o) for o in items if all(f(o) for f in filters)]
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        limit = int(call.query.get("limit") or 0)
        start = int(call.query.get("continue") or 0) if call.query.get("continue", "").isdigit() else 0
        if call.query.get("continue") and not call.query["continue"].isdigit():
            raise ApiError(400, "continue key is not valid: illegal base64 data", reason="BadRequest")
        if limit > 0:
            page = items[start : start + limit]
            if start + limit < len(items):
                meta["continue"] = str(start + limit)
                meta["remainingItemCount"] = len(items) - start - limit
            items = page
        return {"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": meta, "items": items}

    # -- watch ----------------------------------------------------------------------------------
    def watch(self, call: Call) -> Generator[dict[str, Any], None, None]:
        """Watch events as dicts; ends after timeoutSeconds (default 30 min) or when the server stops."""
        rt = call.rt
        filters = self._filters(call.query)
        namespace = call.namespace if rt.namespaced else ""
        timeout = float(call.query.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        bookmarks = call.flag("allowWatchBookmarks")
        rv_text = call.query.get("resourceVersion", "")
        initial = call.flag("sendInitialEvents") or rv_text in ("", "0")

        def wanted(group: str, plural: str, obj: dict[str, Any]) -> bool:
            if group != rt.group or plural != rt.plural:
                return False
            if namespace and obj["metadata"].get("namespace") != namespace:
                return False
            return all(f(obj) for f in filters)

        if initial:
            with self.store.lock:
                rv = self.store.resource_version
                existing = self.store.list(rt.group, rt.plural, namespace or None)
            for obj in existing:
                if all(f(obj) for f in filters):
                    yield {"type": "ADDED", "object": self._out(rt, obj)}
            if call.flag("sendInitialEvents") and bookmarks:
                yield self._bookmark(rt, rv, initial_end=True)
        else:
            try:
                rv = int(rv_text)
            except ValueError:
                raise bad_request(f'invalid resource version "{rv_text}"') from None
        last_bookmark = time.monotonic()
        while not self.stopping.is_set():
            try:
                events: list[Event] = self.store.events_after(rv)
            except ApiError as err:
                yield {"type": "ERROR", "object": err.status()}
                return
            for event in events:
                rv = event.rv
                kind = _transition(
                    event,
                    wanted(event.group, event.plural, event.obj),
                    event.old is not None and wanted(event.group, event.plural, event.old),
                )
                if kind:
                    yield {"type": kind, "object": self._out(rt, event.obj)}
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if bookmarks and time.monotonic() - last_bookmark > 5:
                last_bookmark = time.monotonic()
                yield self._bookmark(rt, self.store.resource_version)
            if not events:
                self.store.wait(rv, min(remaining, 1.0))

    def _bookmark(self, rt: ResourceType, rv: int, *, initial_end: bool = False) -> dict[str, Any]:
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {
            "type": "BOOKMARK",
            "object": {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta},
        }

    # -- create ---------------------------------------------------------------------------------
    def create(self, call: Call, body: Any) -> dict[str, Any]:
        obj = self._check_identity(call, body, url_name=False)
        meta = obj["metadata"]
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise validation.invalid_missing_name(call.rt)
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        call.name = meta["name"]
        validation.check_name(call.rt, call.name)
        obj = self._conform(call, obj)
        with self.store.lock:
            self._check_namespace(call)
            if self.store.get(call.rt.group, call.rt.plural, call.namespace, call.name) is not None:
                raise already_exists(call.rt.group, call.rt.plural, call.name)
            obj = self._prepare_new(call, obj)
            obj = self._record(call, None, obj)
            return self._commit_new(call, obj)

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
        defaults.on_create(rt.group, rt.kind, obj)
        defaults.on_write(rt.group, rt.kind, obj)
        if rt.group == CRD_GROUP:
            obj["status"] = crds.accepted_status(obj, meta["creationTimestamp"])
        return obj

    def _commit_new(self, call: Call, obj: dict[str, Any]) -> dict[str, Any]:
        if call.dry_run:
            return self._out(call.rt, obj)
        stored = self.store.put(call.rt.group, call.rt.plural, obj, "ADDED")
        if call.rt.group == CRD_GROUP:
            self.table.add_custom(crds.served_types(stored))
        return self._out(call.rt, stored)

    # -- update / patch -------------------------------------------------------------------------
    def update(self, call: Call, body: Any) -> dict[str, Any]:
        with self.store.lock:
            old = self._existing(call)
            if call.subresource == "scale":
                new = self._apply_scale(call, old, body)
            else:
                new = self._conform(call, self._check_identity(call, body, url_name=True))
            rv = new["metadata"].get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise conflict(
                    call.rt.group,
                    call.rt.plural,
                    call.name,
                    STALE,
                )
            new = self._merge_subresource(call, old, new)
            new = self._record(call, old, new)
            return self._answer(call, self._commit_update(call, old, new))

    def patch(self, call: Call, raw: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        media = content_type.split(";")[0].strip()
        if media == APPLY_PATCH:
            return self._apply(call, decode_body(raw, "yaml"))
        if media not in (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH) or (
            media == STRATEGIC_PATCH and call.rt.group not in self.table.builtin_groups
        ):
            accepted = f"{JSON_PATCH}, {MERGE_PATCH}, {APPLY_PATCH}"
            if call.rt.group in self.table.builtin_groups:
                accepted = f"{JSON_PATCH}, {MERGE_PATCH}, {STRATEGIC_PATCH}, {APPLY_PATCH}"
            raise ApiError(
                415,
                "the body of the request was in an unknown format - accepted media types include: "
                + accepted,
            )
        patch = decode_body(raw)
        with self.store.lock:
            old = self._existing(call)
            base = self._scale_of(call.rt, old) if call.subresource == "scale" else copy.deepcopy(old)
            try:
                if media == JSON_PATCH:
                    if not isinstance(patch, list):
                        raise bad_request(
                            "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
                        )
                    patched = merge.json_patch(base, patch)
                elif not isinstance(patch, dict):
                    raise bad_request("the patch must be a JSON object")
                elif media == MERGE_PATCH:
                    patched = merge.merge_patch(base, patch)
                else:
                    patched = merge.strategic_merge_patch(base, patch, self._schema(call.rt))
            except merge.MergeError as err:
                raise ApiError(getattr(err, "code", 422), str(err)) from None
            if call.subresource == "scale":
                patched = self._apply_scale(call, old, patched)
            new = self._conform(call, self._check_identity(call, patched, url_name=True))
            rv = new["metadata"].get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise conflict(
                    call.rt.group,
                    call.rt.plural,
                    call.name,
                    STALE,
                )
            new = self._merge_subresource(call, old, new)
            new = self._record(call, old, new)
            return 200, self._answer(call, self._commit_update(call, old, new))

    def _apply(self, call: Call, applied: Any) -> tuple[int, dict[str, Any]]:
        if "fieldManager" not in call.query:
            raise bad_request("PATCH, application/apply-patch+yaml requires fieldManager to be set")
        if not isinstance(applied, dict) or not applied.get("apiVersion") or not applied.get("kind"):
            raise bad_request(f"{call.where()}: an apply body must be an object with apiVersion and kind")
        applied = self._conform(call, self._check_identity(call, applied, url_name=True), check_values=False)
        force = call.flag("force")
        with self.store.lock:
            old = self.store.get(call.rt.group, call.rt.plural, call.namespace, call.name)
            if old is None and call.subresource:
                raise not_found(call.rt.group, call.rt.plural, call.name)
            if old is None:
                validation.check_name(call.rt, call.name)
                self._check_namespace(call)
            try:
                new = merge.server_side_apply(
                    copy.deepcopy(old) if old else None,
                    applied,
                    call.manager,
                    force=force,
                    schema=self._schema(call.rt),
                    subresource=call.subresource,
                )
            except merge.ApplyConflict as err:
                causes = [
                    {"reason": "FieldManagerConflict", "message": f'conflict with "{mgr}"', "field": path}
                    for mgr, path in err.conflicts
                ]
                raise ApiError(
                    409,
                    str(err),
                    details={
                        "name": call.name,
                        "group": call.rt.group,
                        "kind": call.rt.plural,
                        "causes": causes,
                    },
                ) from None
            except merge.MergeError as err:
                raise ApiError(getattr(err, "code", 422), str(err)) from None
            new = self._conform(call, new)
            if old is None:
                new = self._prepare_new(call, new)
                return 201, self._commit_new(call, new)
            new = self._merge_subresource(call, old, new)
            return 200, self._commit_update(call, old, new)

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
        if rt.has_generation:
            generation = old_meta.get("generation", 1)
            meta["generation"] = generation + 1 if _spec_part(rt, new) != _spec_part(rt, old) else generation
        if _timeless(new) == _timeless(old):
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

    # -- delete ---------------------------------------------------------------------------------
    def delete(self, call: Call, options: dict[str, Any]) -> dict[str, Any]:
        rt = call.rt
        policy = options.get("propagationPolicy") or call.query.get("propagationPolicy") or "Background"
        if policy not in ("Background", "Foreground", "Orphan"):
            raise bad_request(
                f'propagationPolicy "{policy}" is not supported: use Background, Foreground or Orphan'
            )
        dry_run = call.dry_run or "All" in (options.get("dryRun") or [])
        with self.store.lock:
            old = self._existing(call)
            preconditions = options.get("preconditions") or {}
            for key in ("uid", "resourceVersion"):
                if preconditions.get(key) and preconditions[key] != old["metadata"].get(key):
                    raise conflict(
                        rt.group,
                        rt.plural,
                        call.name,
                        f"Precondition failed: {key} in precondition: {preconditions[key]}, "
                        f"{key} in object meta: {old['metadata'].get(key)}",
                    )
            if dry_run:
                return success(call.name, rt.group, rt.plural, old["metadata"]["uid"])
            uid = old["metadata"]["uid"]
            if policy == "Orphan":
                self._orphan(uid)
            elif rt.kind == "Namespace" and rt.group == "":
                return self._delete_namespace(old)
            if old["metadata"].get("finalizers"):
                marked = self._mark_deleted(rt, old)
                if policy != "Orphan":
                    self._collect(uid)
                return self._out(rt, marked)
            gone = self._remove(rt, old)
            if policy != "Orphan":
                self._collect(uid)
            return self._out(rt, gone) if rt.returns_deleted else success(call.name, rt.group, rt.plural, uid)

    def deletecollection(self, call: Call, options: dict[str, Any]) -> dict[str, Any]:
        listing = self.list(call)
        for item in listing["items"]:
            meta = item["metadata"]
            one = Call(call.rt, meta.get("namespace", ""), meta["name"], "", call.query, call.manager)
            try:
                self.delete(one, options)
            except ApiError as err:
                if err.code != 404:
                    raise
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}

    def _mark_deleted(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        if obj["metadata"].get("deletionTimestamp"):
            return obj
        meta = {**obj["metadata"], "deletionTimestamp": now(), "deletionGracePeriodSeconds": 0}
        if rt.has_generation:
            meta["generation"] = meta.get("generation", 1) + 1
        return self.store.put(rt.group, rt.plural, {**obj, "metadata": meta}, "MODIFIED")

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

    def _dependents(self, uid: str) -> builtins.list[tuple[ResourceType, dict[str, Any]]]:
        found = []
        for group, plural in self.store.types():
            rt = self.table.find(group, plural)
            if rt is None:
                continue
            for obj in self.store.list(group, plural):
                refs = obj["metadata"].get("ownerReferences") or []
                if any(ref.get("uid") == uid for ref in refs):
                    found.append((rt, obj))
        return found

    def _orphan(self, uid: str) -> None:
        for rt, obj in self._dependents(uid):
            refs = [r for r in obj["metadata"]["ownerReferences"] if r.get("uid") != uid]
            meta = {**obj["metadata"], "ownerReferences": refs}
            if not refs:
                del meta["ownerReferences"]
            self.store.put(rt.group, rt.plural, {**obj, "metadata": meta}, "MODIFIED")

    def _collect(self, uid: str) -> None:
        """Garbage-collect dependents whose every owner is gone (what the GC controller does)."""
        for rt, obj in self._dependents(uid):
            refs = obj["metadata"]["ownerReferences"]
            alive = [r for r in refs if r.get("uid") != uid and self._uid_exists(r)]
            if alive:
                continue
            if obj["metadata"].get("finalizers"):
                self._mark_deleted(rt, obj)
            else:
                self._remove(rt, obj)
            self._collect(obj["metadata"]["uid"])

    def _uid_exists(self, ref: dict[str, Any]) -> bool:
        api_version, kind = ref.get("apiVersion", ""), ref.get("kind", "")
        rt = self.table.by_kind(api_version, kind)
        if rt is None:
            return False
        return any(o["metadata"].get("uid") == ref.get("uid") for o in self.store.list(rt.group, rt.plural))

    def _delete_namespace(self, ns: dict[str, Any]) -> dict[str, Any]:
        name = ns["metadata"]["name"]
        rt = self.table.lookup("", "v1", "namespaces")
        assert rt is not None
        meta = {**ns["metadata"], "deletionTimestamp": ns["metadata"].get("deletionTimestamp") or now()}
        marked = self.store.put(
            "", "namespaces", {**ns, "metadata": meta, "status": {"phase": "Terminating"}}, "MODIFIED"
        )
        for group, plural in self.store.types():
            content_rt = self.table.find(group, plural)
            if content_rt is None or not content_rt.namespaced:
                continue
            for obj in self.store.list(group, plural, name):
                if obj["metadata"].get("finalizers"):
                    self._mark_deleted(content_rt, obj)
                else:
                    self.store.remove(group, plural, name, obj["metadata"]["name"])
        self._finish_namespace(name)
        return self._out(rt, marked)

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


def _transition(event: Event, matches_now: bool, matched_before: bool) -> str | None:
    """The event a selector-filtered watcher sees: objects entering or leaving the selection
    arrive as ADDED or DELETED, as from the API server's watch cache."""
    if event.type != "MODIFIED":
        return event.type if matches_now else None
    if matches_now:
        return "MODIFIED" if matched_before else "ADDED"
    return "DELETED" if matched_before else None


def _fm(new: dict[str, Any]) -> dict[str, Any]:
    """managedFields carried over from a status write (the merge library records them)."""
    managed = new.get("metadata", {}).get("managedFields")
    return {"managedFields": managed} if managed is not None else {}
