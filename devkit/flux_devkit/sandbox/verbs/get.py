"""GET of one object (or its scale subresource)."""

from __future__ import annotations

from typing import Any

from flux_devkit.sandbox.verbs.call import Call
from flux_devkit.sandbox.verbs.core import Verbs


class GetVerb(Verbs):
    def get(self, call: Call) -> dict[str, Any]:
        obj = self._existing(call)
        if call.subresource == "scale":
            return self._scale_of(call.rt, obj)
        return self._out(call.rt, obj)
