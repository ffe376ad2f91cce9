"""Status conditions as controllers write them, and keeping their times when nothing changed."""

from __future__ import annotations

from typing import Any

Status = dict[str, Any]


def condition(kind: str, status: bool, reason: str, message: str, stamp: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True" if status else "False",
        "reason": reason,
        "message": message,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
    }


def keep_times(new: Status, old: Status) -> Status:
    """Reuse the previous condition timestamps when nothing but the time would change."""
    before = {c["type"]: c for c in old.get("conditions") or []}
    for cond in new.get("conditions") or []:
        prev = before.get(cond["type"])
        if prev and all(prev.get(k) == cond.get(k) for k in ("status", "reason", "message")):
            for key in ("lastUpdateTime", "lastTransitionTime", "lastProbeTime"):
                if key in prev:
                    cond[key] = prev[key]
                else:
                    cond.pop(key, None)
    for key in ("startTime", "completionTime"):
        if key in old and key in new:
            new[key] = old[key]
    return new
