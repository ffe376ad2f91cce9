"""UPDATE (PUT) of an object, its status or its scale, with resourceVersion preconditions."""

from __future__ import annotations

from typing import Any

from flux_devkit.sandbox.verbs.call import Call
from flux_devkit.sandbox.verbs.core import Verbs


class UpdateVerb(Verbs):
    def update(self, call: Call, body: Any) -> dict[str, Any]:
        with self.store.lock:
            old = self._existing(call)
            if call.subresource == "scale":
                new = self._apply_scale(call, old, body)
            else:
                new = self._conform(call, self._check_identity(call, body, url_name=True))
            return self._replace(call, old, new)
