"""DELETE and DELETECOLLECTION: finalizers, propagation policies, garbage collection, namespaces."""

from __future__ import annotations

import builtins
from typing import Any

from flux_devkit.sandbox.resources import ResourceType
from flux_devkit.sandbox.status import ApiError, bad_request, conflict, success
from flux_devkit.sandbox.verbs.call import Call, now
from flux_devkit.sandbox.verbs.list import ListVerb


class DeleteVerb(ListVerb):
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

    def _dependents(self, uid: str) -> builtins.list[tuple[ResourceType, dict[str, Any]]]:
        found = []
        for (group, plural), obj in self.store.indexed("owner", uid):
            rt = self.table.find(group, plural)
            if rt is not None:
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
        uid = str(ref.get("uid"))
        return any(type_key == (rt.group, rt.plural) for type_key, _ in self.store.indexed("uid", uid))

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
