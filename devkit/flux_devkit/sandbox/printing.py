"""Server-side printing: the ``meta.k8s.io/v1 Table`` kubectl asks for (``Accept: …;as=Table``).

Built-in kinds print Name and Age; a custom resource prints Name and its CRD version's
``additionalPrinterColumns``, each value read with the JSONPath subset CRDs use
(``.status.conditions[?(@.type=="Ready")].message``), dates shown as ages.
"""

from __future__ import annotations

import calendar
import json
import re
import time
from typing import Any

from flux_devkit.sandbox.resources import ResourceType

_NAME = {"name": "Name", "type": "string", "format": "name", "description": "Name of the object",
         "priority": 0}  # fmt: skip
_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
# one step of a printer column's JSONPath: .field, ['field'], [N], [*] or [?(@.key=="value")]
_STEP = re.compile(
    r"""\.(?P<field>[A-Za-z0-9_-]+)|\[(?:'(?P<quoted>[^']*)'|(?P<index>-?\d+)|(?P<all>\*)|"""
    r"""\?\(@\.(?P<key>[A-Za-z0-9_-]+)\s*==\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)')\))\]"""
)


def age(timestamp: str) -> str:
    """kubectl's short age: 90s, 2m, 47h, 3d."""
    try:
        created = calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ"))
    except (TypeError, ValueError):
        return "<unknown>"
    seconds = max(0, int(time.time() - created))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * 2:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def select(obj: Any, path: str) -> list[Any]:
    """The values ``path`` names in ``obj`` (none when a step finds nothing or the path is not read)."""
    values = [obj]
    position = 0
    while position < len(path):
        step = _STEP.match(path, position)
        if step is None:
            return []
        position = step.end()
        values = [found for value in values for found in _step(value, step)]
    return values


def _step(value: Any, step: re.Match[str]) -> list[Any]:
    field = step["field"] if step["field"] is not None else step["quoted"]
    if field is not None:
        return [value[field]] if isinstance(value, dict) and field in value else []
    if not isinstance(value, list):
        return []
    if step["index"] is not None:
        index = int(step["index"])
        return [value[index]] if -len(value) <= index < len(value) else []
    if step["all"]:
        return list(value)
    wanted = step["dq"] if step["dq"] is not None else step["sq"]
    return [item for item in value if isinstance(item, dict) and str(item.get(step["key"])) == wanted]


def _cell(obj: dict[str, Any], column: dict[str, Any]) -> Any:
    found = select(obj, str(column.get("jsonPath", "")))
    if not found:
        return None
    value = found[0]
    if column.get("type") == "date" and isinstance(value, str):
        return age(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return value


def _definition(column: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": column["name"],
        "type": "string" if column.get("type") == "date" else column.get("type", "string"),
        "format": column.get("format", ""),
        "description": column.get("description", ""),
        "priority": column.get("priority", 0),
    }


def as_table(obj: dict[str, Any], rt: ResourceType) -> dict[str, Any]:
    """``obj`` (one object or a list) as the Table kubectl prints."""
    columns = list(rt.printer_columns) if rt.printer_columns else [_AGE]
    items = obj.get("items", [obj])
    rows = [
        {
            "cells": [item["metadata"]["name"], *(_cell(item, column) for column in columns)],
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": item["metadata"],
            },
        }
        for item in items
    ]
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k in ("resourceVersion", "continue")}
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": [_NAME, *(_definition(c) for c in columns)],
        "rows": rows,
    }
