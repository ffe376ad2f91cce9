"""PATCH: JSON patch, merge patch and strategic merge patch; apply patches go to server-side apply."""

from __future__ import annotations

import copy
from typing import Any

from flux_devkit.sandbox import merge
from flux_devkit.sandbox.status import ApiError, bad_request
from flux_devkit.sandbox.verbs.apply import ApplyVerb
from flux_devkit.sandbox.verbs.call import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    Call,
    decode_body,
)


class PatchVerb(ApplyVerb):
    def patch(self, call: Call, raw: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        media = content_type.split(";")[0].strip()
        if media == APPLY_PATCH:
            return self.apply(call, decode_body(raw, "yaml"))
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
            return 200, self._replace(call, old, new)
