"""CREATE (POST), with generateName."""

from __future__ import annotations

import secrets
from typing import Any

from flux_devkit.sandbox import validation
from flux_devkit.sandbox.status import already_exists
from flux_devkit.sandbox.verbs.call import Call
from flux_devkit.sandbox.verbs.core import Verbs


class CreateVerb(Verbs):
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
            obj = self._prepare_new(call, obj)  # validation first, as the API server: 422 before 409
            if self.store.get(call.rt.group, call.rt.plural, call.namespace, call.name) is not None:
                raise already_exists(call.rt.group, call.rt.plural, call.name)
            obj = self._record(call, None, obj)
            return self._commit_new(call, obj)
