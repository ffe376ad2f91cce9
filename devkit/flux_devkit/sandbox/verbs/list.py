"""LIST with label/field selectors and ``limit``/``continue`` paging."""

from __future__ import annotations

from typing import Any

from flux_devkit.sandbox.status import ApiError
from flux_devkit.sandbox.verbs.call import Call
from flux_devkit.sandbox.verbs.core import Verbs


class ListVerb(Verbs):
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
