"""The labels and annotations that steer how one object is applied and pruned, as Flux reads them.

Each mark counts as a label or an annotation, on the object in Git or on the live object
(wherever Flux's selectors look), with the value compared case-insensitively:

- ``kustomize.toolkit.fluxcd.io/reconcile: disabled`` and ``…/ssa: Ignore``: never applied, never pruned;
- ``…/ssa: IfNotPresent`` (in Git): created when missing, left alone once it exists;
- ``…/ssa: Merge``: fields other tools added stay theirs (no takeover before apply);
- ``…/force: Enabled``: recreated when an immutable field changes;
- ``…/prune: disabled``: never pruned.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

RECONCILE = "kustomize.toolkit.fluxcd.io/reconcile"
SSA = "kustomize.toolkit.fluxcd.io/ssa"
FORCE = "kustomize.toolkit.fluxcd.io/force"
PRUNE = "kustomize.toolkit.fluxcd.io/prune"

_EXCLUDED = {RECONCILE: "disabled", SSA: "ignore"}


def any_marked(obj: Mapping[str, Any] | None, marks: Mapping[str, str]) -> bool:
    """Whether ``obj`` carries one of ``marks`` (key: value) as a label or an annotation."""
    meta = (obj or {}).get("metadata") or {}
    for source in (meta.get("labels") or {}, meta.get("annotations") or {}):
        for key, wanted in marks.items():
            value = source.get(key)
            if isinstance(value, str) and value and value.lower() == wanted.lower():
                return True
    return False


def excluded(*objects: Mapping[str, Any] | None) -> bool:
    """``reconcile: disabled`` or ``ssa: Ignore`` on any of ``objects`` (desired, live)."""
    return any(any_marked(obj, _EXCLUDED) for obj in objects)


def if_not_present(desired: Mapping[str, Any]) -> bool:
    return any_marked(desired, {SSA: "ifnotpresent"})


def merge(*objects: Mapping[str, Any] | None) -> bool:
    return any(any_marked(obj, {SSA: "merge"}) for obj in objects)


def force(*objects: Mapping[str, Any] | None) -> bool:
    return any(any_marked(obj, {FORCE: "enabled"}) for obj in objects)


def prune_protected(live: Mapping[str, Any]) -> bool:
    """Kept by garbage collection: ``prune: disabled``, ``reconcile: disabled`` or ``ssa: Ignore``."""
    return any_marked(live, {**_EXCLUDED, PRUNE: "disabled"})
