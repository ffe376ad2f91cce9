"""Field renames of older Flux apiVersions, applied to raw spec dicts before validation.

Only the spellings that changed are handled here; every kind's module says which of
these it uses for which apiVersion.
"""

from __future__ import annotations

from typing import Any

import yaml


def merge_legacy_patches(holder: dict[str, Any]) -> dict[str, Any]:
    """Fold ``patchesStrategicMerge`` and ``patchesJson6902`` into ``patches``.

    kustomize-controller v1beta1/v1beta2 and helm-controller v2beta1/v2beta2 post-renderers
    had both; the current APIs keep only ``patches: [{patch: <yaml text>, target?}]``:
    a strategic-merge patch object becomes its YAML text (kustomize finds the target from
    the patch itself), a JSON6902 entry becomes its operation list as YAML with its target.
    """
    strategic = holder.pop("patchesStrategicMerge", None)
    json6902 = holder.pop("patchesJson6902", None)
    if strategic is None and json6902 is None:
        return holder
    patches = list(holder.get("patches") or [])
    for item in strategic or []:
        patches.append({"patch": item if isinstance(item, str) else _yaml(item)})
    for item in json6902 or []:
        if not isinstance(item, dict):
            patches.append(item)  # let validation name the bad entry
            continue
        ops = item.get("patch")
        entry: dict[str, Any] = {"patch": ops if isinstance(ops, str) else _yaml(ops)}
        if item.get("target") is not None:
            entry["target"] = item["target"]
        patches.append(entry)
    holder["patches"] = patches
    return holder


def drop(holder: dict[str, Any], *fields: str) -> dict[str, Any]:
    """Remove fields an older apiVersion had and the current controllers no longer read."""
    for name in fields:
        holder.pop(name, None)
    return holder


def _yaml(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False)
