"""What differs between a live object and the object applying Git's version would give (a dry-run).

Compared as Flux compares: labels, annotations, and everything but ``metadata`` and ``status``
(server-owned metadata such as resourceVersion or managedFields is never drift). Each
difference is named by the JSON pointer of the field (``/data/threads``), the form Flux's
``spec.ignore`` rules take. Secret values are masked before anything is shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from airflow_flux_provider.kube.ignore import ABSENT, escape

_MASK, _MASK_BEFORE, _MASK_AFTER = "***", "*** (before)", "*** (after)"
_SECRET_FIELDS = (
    "/data/",
    "/stringData/",
    "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
)


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: its JSON pointer, the live value and the value after the apply."""

    pointer: str
    live: Any = ABSENT
    desired: Any = ABSENT

    def lines(self) -> list[str]:
        """``pointer`` then ``- live`` / ``+ desired`` lines (a side that is absent is left out)."""
        out = [self.pointer]
        out += [f"  - {_shown(self.live)}"] if self.live is not ABSENT else []
        out += [f"  + {_shown(self.desired)}"] if self.desired is not ABSENT else []
        return out


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    body = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    return {
        **body,
        "metadata": {"labels": meta.get("labels") or {}, "annotations": meta.get("annotations") or {}},
    }


def differences(live: dict[str, Any], desired: dict[str, Any]) -> list[FieldChange]:
    """The fields where ``desired`` (a dry-run result) differs from ``live``, in pointer order.

    Maps are compared key by key, lists item by item when their lengths agree (else as a
    whole); walked without recursion, whatever the depth of the objects.
    """
    found: list[FieldChange] = []
    pending: list[tuple[str, Any, Any]] = [("", _comparable(live), _comparable(desired))]
    while pending:
        pointer, left, right = pending.pop()
        if isinstance(left, dict) and isinstance(right, dict):
            for key in set(left) | set(right):
                pending.append(
                    (f"{pointer}/{escape(str(key))}", left.get(key, ABSENT), right.get(key, ABSENT))
                )
        elif isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
            pending.extend((f"{pointer}/{i}", a, b) for i, (a, b) in enumerate(zip(left, right, strict=True)))
        elif left != right:
            found.append(FieldChange(pointer, left, right))
    return sorted(found, key=lambda change: change.pointer)


def masked(kind: str, changes: list[FieldChange]) -> list[FieldChange]:
    """``changes`` with Secret values hidden as Flux hides them (``***``, before/after when they differ)."""
    if kind != "Secret":
        return changes
    hidden = []
    for change in changes:
        if change.pointer.startswith(_SECRET_FIELDS) or change.pointer in ("/data", "/stringData"):
            both = change.live is not ABSENT and change.desired is not ABSENT
            live = ABSENT if change.live is ABSENT else (_MASK_BEFORE if both else _MASK)
            desired = ABSENT if change.desired is ABSENT else (_MASK_AFTER if both else _MASK)
            change = FieldChange(change.pointer, live, desired)
        hidden.append(change)
    return hidden
