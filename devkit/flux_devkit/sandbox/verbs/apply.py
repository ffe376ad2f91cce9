"""Server-side apply (PATCH with ``application/apply-patch+yaml``)."""

from __future__ import annotations

from typing import Any

from flux_devkit.sandbox import merge, validation
from flux_devkit.sandbox.status import ApiError, bad_request, not_found
from flux_devkit.sandbox.verbs.call import Call
from flux_devkit.sandbox.verbs.core import Verbs


class ApplyVerb(Verbs):
    def apply(self, call: Call, applied: Any) -> tuple[int, dict[str, Any]]:
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
                    old,  # read only: the merge works on its own copy
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
