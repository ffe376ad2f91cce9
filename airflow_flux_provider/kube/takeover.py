"""Taking over fields that kubectl and older tooling own, before applying (Flux's apply cleanup).

An object first created with ``kubectl apply``/``kubectl create``, edited with ``kubectl
edit``/``patch``, or written before server-side apply existed has fields owned by managers
such as ``kubectl-client-side-apply`` or ``before-first-apply``. A forced apply takes the
fields Git sets, but fields Git *removed* would stay, owned by those managers. So, as
kustomize-controller does, their ``managedFields`` entries are handed to our Apply entry with
one JSON patch (fields merged), and the client-side apply annotation and Flux v1 marks are
removed. The next apply then owns exactly what Git sets and drops what Git no longer sets.
Objects marked ``kustomize.toolkit.fluxcd.io/ssa: Merge`` are left as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_ANNOTATIONS = (LAST_APPLIED, "kustomize.toolkit.fluxcd.io/checksum", "fluxcd.io/sync-checksum")
_LABELS = ("fluxcd.io/sync-gc-mark",)


@dataclass(frozen=True)
class ManagerMatch:
    """managedFields entries of main-resource writes by managers named ``prefix…`` with ``operation``."""

    prefix: str
    operation: str

    def matches(self, entry: dict[str, Any]) -> bool:
        return (
            entry.get("operation") == self.operation
            and not entry.get("subresource")
            and str(entry.get("manager", "")).startswith(self.prefix)
        )


def taken_over_from(manager: str) -> tuple[ManagerMatch, ...]:
    """kubectl (server-side and client-side), the API server's placeholder, our own non-apply writes."""
    return (
        ManagerMatch("kubectl", "Apply"),
        ManagerMatch("kubectl", "Update"),
        ManagerMatch("before-first-apply", "Update"),
        ManagerMatch(manager, "Update"),
    )


def _pointer(*parts: str) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def _paths(tree: dict[str, Any]) -> set[tuple[str, ...]]:
    """The field paths a ``fieldsV1`` trie holds (a key with no children is a field)."""
    paths: set[tuple[str, ...]] = set()
    pending: list[tuple[tuple[str, ...], Any]] = [((), tree)]
    while pending:
        prefix, node = pending.pop()
        for element, child in node.items() if isinstance(node, dict) else ():
            if isinstance(child, dict) and child:
                pending.append(((*prefix, element), child))
            else:
                paths.add((*prefix, element))
    return paths


def _union(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """Two ``fieldsV1`` tries merged: the union of their field sets, written as the API server writes it
    (a field that also has fields inside gets a ``.`` entry)."""
    paths = _paths(left) | _paths(right)
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    for path in paths:
        node = tree
        for element in path:
            node = node[element]
        if node:
            node.setdefault(".", {})
    return tree


def _managed_fields(live: dict[str, Any], manager: str) -> list[dict[str, Any]] | None:
    """The entries with every matching one folded into ours (an Apply entry); ``None`` if none match."""
    entries = [e for e in (live.get("metadata") or {}).get("managedFields") or [] if isinstance(e, dict)]
    ours = next(
        (e for e in reversed(entries) if e.get("manager") == manager and e.get("operation") == "Apply"), None
    )
    matchers = taken_over_from(manager)
    kept: list[dict[str, Any]] = []
    edited = False
    for entry in entries:
        if entry is ours:
            continue
        if not any(m.matches(entry) for m in matchers):
            kept.append(entry)
        elif ours is None:
            ours, edited = {**entry, "manager": manager, "operation": "Apply"}, True
        else:
            fields = _union(ours.get("fieldsV1") or {}, entry.get("fieldsV1") or {})
            ours, edited = {**ours, "fieldsV1": fields}, True
    return [*kept, ours] if edited and ours is not None else None


def takeover_patch(live: dict[str, Any], manager: str) -> list[dict[str, Any]]:
    """The JSON patch that hands ``live``'s kubectl-era fields to ``manager``; ``[]`` when there are none."""
    meta = live.get("metadata") or {}
    annotations, labels = meta.get("annotations") or {}, meta.get("labels") or {}
    patch: list[dict[str, Any]] = [
        {"op": "remove", "path": _pointer("metadata", "annotations", key)}
        for key in _ANNOTATIONS
        if key in annotations
    ]
    patch += [
        {"op": "remove", "path": _pointer("metadata", "labels", key)} for key in _LABELS if key in labels
    ]
    entries = _managed_fields(live, manager)
    if entries is not None:
        patch.append({"op": "replace", "path": "/metadata/managedFields", "value": entries})
    return patch


def applied_by_others(live: dict[str, Any], pointer: tuple[str, ...], manager: str) -> bool:
    """Whether a server-side applier other than ``manager`` owns the field at ``pointer``.

    As fluxcd/pkg ``ssa`` resolves it: the pointer becomes a ``fieldsV1`` path, a list index
    the ``k:{…}`` key of the item there (``v:`` for a set member); unresolvable means no.
    """
    applied = [
        e
        for e in (live.get("metadata") or {}).get("managedFields") or []
        if isinstance(e, dict)
        and e.get("operation") == "Apply"
        and not e.get("subresource")
        and isinstance(e.get("fieldsV1"), dict)
    ]
    path: list[str] = []
    node: Any = live
    for part in pointer:
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                return False
            node = node[int(part)]
            element = _item_element(node, path, [e["fieldsV1"] for e in applied])
            if element is None:
                return False
            path.append(element)
        else:
            path.append(f"f:{part}")
            node = node.get(part) if isinstance(node, dict) else None
    return any(_holds(e["fieldsV1"], path) for e in applied if e.get("manager") != manager)


def _walk(fields: dict[str, Any], path: list[str]) -> Any:
    node: Any = fields
    for element in path:
        node = node.get(element) if isinstance(node, dict) else None
    return node


def _holds(fields: dict[str, Any], path: list[str]) -> bool:
    parent = _walk(fields, path[:-1])
    return bool(path) and isinstance(parent, dict) and path[-1] in parent


def _item_element(item: Any, parent: list[str], tries: list[dict[str, Any]]) -> str | None:
    """The ``fieldsV1`` element of a list item: the ``k:`` key it matches, or its ``v:`` value."""
    if not isinstance(item, dict):
        return "v:" + json.dumps(item, separators=(",", ":"))
    for fields in tries:
        node = _walk(fields, parent)
        for element in node if isinstance(node, dict) else ():
            try:
                keys = json.loads(element[2:]) if element.startswith("k:") else None
            except ValueError:
                continue
            if isinstance(keys, dict) and all(item.get(k) == v for k, v in keys.items()):
                return str(element)
    return None
