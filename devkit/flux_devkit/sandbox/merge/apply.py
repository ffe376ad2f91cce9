"""Server-side apply and managedFields bookkeeping, following the API server's rules.

- Each manager owns the leaf fields it set (``metadata.managedFields``, ``fieldsV1``).
- Apply merges the applied configuration into the live object: maps field by field,
  associative lists item by key, set lists by member, atomic lists and scalars whole.
- Applying a value that differs from a field another manager owns is a conflict, unless
  ``force`` (then ownership moves); applying the same value shares ownership.
- A field the manager applied before and no longer applies is removed, unless another
  manager still owns it.
- Non-apply writes (create, update, patch) give the writer the fields it changed and
  take them from everybody else, without conflicts. They may also set ``managedFields``
  themselves (``[]`` or ``[{}]`` clears them); an update of an object without any is not
  tracked, and the first apply to such an object hands its fields to ``before-first-apply``.
- A write that changes nothing keeps every entry and its time; entries are kept in the API
  server's order (operation, time, manager, apiVersion, subresource), so a no-op apply or
  patch leaves the object byte for byte as it was.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flux_devkit.sandbox.merge.errors import ApplyConflict, MergeError, object_ref
from flux_devkit.sandbox.merge.fieldset import (
    SERVER_METADATA,
    FieldPath,
    FieldSet,
    clone,
    describe,
    from_fields_v1,
    item_key,
    leaves,
    present,
    to_fields_v1,
    value_at,
)
from flux_devkit.sandbox.merge.schema import Path, TypeSchema, schema_for


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


BEFORE_FIRST_APPLY = "before-first-apply"
_OPERATIONS = ("Apply", "Update")


def _entries(obj: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list(((obj or {}).get("metadata") or {}).get("managedFields") or [])


def _in_server_order(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The API server's order: Apply before Update, then oldest first, then by name."""
    return sorted(
        entries,
        key=lambda e: (
            e.get("operation", ""),
            e.get("time") or "",
            e.get("manager", ""),
            e.get("apiVersion", ""),
            e.get("subresource", ""),
        ),
    )


def _with_entries(obj: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    meta = {**(obj.get("metadata") or {}), "managedFields": _in_server_order(entries)}
    if not entries:
        meta.pop("managedFields")
    return {**obj, "metadata": meta}


def _content(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without managedFields: what a write changes when it changes anything."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {**obj, "metadata": meta}


def _supplied_entries(new: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The managedFields a non-apply write sets itself: ``[]`` to clear, ``None`` to keep the live ones.

    As the API server: ``[]`` and ``[{}]`` clear; anything it cannot decode, or no entries,
    keeps the live object's (a client that does not know the field never erases it).
    """
    supplied = (new.get("metadata") or {}).get("managedFields")
    if not isinstance(supplied, list):
        return None
    if supplied in ([], [{}]):
        return []
    for entry in supplied:
        if (
            not isinstance(entry, dict)
            or entry.get("operation") not in _OPERATIONS
            or not isinstance(entry.get("apiVersion"), str)
            or not entry["apiVersion"]
            or entry.get("fieldsType") != "FieldsV1"
            or not isinstance(entry.get("manager", ""), str)
            or not isinstance(entry.get("subresource", ""), str)
            or not isinstance(entry.get("time", ""), str)
        ):
            return None
        try:
            from_fields_v1(entry.get("fieldsV1") or {})
        except MergeError:
            return None
    return [dict(entry) for entry in supplied]


def _owned(entry: dict[str, Any]) -> FieldSet:
    return from_fields_v1(entry.get("fieldsV1") or {})


def _entry(
    manager: str, operation: str, api_version: str, subresource: str, fields: FieldSet
) -> dict[str, Any]:
    entry = {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": _now(),
        "fieldsType": "FieldsV1",
        "fieldsV1": to_fields_v1(fields),
    }
    if subresource:
        entry["subresource"] = subresource
    return entry


def _same_entry(entry: dict[str, Any], manager: str, operation: str, subresource: str) -> bool:
    return (
        entry.get("manager") == manager
        and entry.get("operation") == operation
        and entry.get("subresource", "") == subresource
    )


def _printed(entry: dict[str, Any]) -> str:
    """A manager as conflict messages name it: ``"name" with subresource "status" using v1``."""
    text = f'"{entry.get("manager", "")}"'
    if entry.get("subresource"):
        text += f' with subresource "{entry["subresource"]}"'
    return f"{text} using {entry.get('apiVersion', '')}"


def _merge(live: Any, applied: Any, names: Path, schema: TypeSchema) -> Any:
    """``applied`` merged into ``live``; a null in ``applied`` means the field is not specified."""
    if isinstance(applied, dict) and not schema.is_atomic_map(names):
        merged = dict(live) if isinstance(live, dict) else {}
        for key, value in applied.items():
            if value is not None:
                merged[key] = _merge(merged.get(key), value, (*names, key), schema)
        return merged
    if isinstance(applied, list):
        list_type = schema.list_type(names)
        current = live if isinstance(live, list) else []
        if list_type.kind == "set":
            return current + [clone(item) for item in applied if item not in current]
        if list_type.kind == "map":
            merged_list = list(current)
            index = {item_key(item, list_type): i for i, item in enumerate(merged_list)}
            for item in applied:
                key = item_key(item, list_type)
                if key in index:
                    merged_list[index[key]] = _merge(merged_list[index[key]], item, names, schema)
                else:
                    index[key] = len(merged_list)
                    merged_list.append(_merge(None, item, names, schema))
            return merged_list
    return clone(applied)


def _remove(obj: dict[str, Any], path: FieldPath) -> None:
    """Delete the field, set member or whole list item at ``path`` if it is there.

    The key fields of a list item that stays are never removed: the item would lose its identity.
    """
    *parent_path, last = path if path[-1] != "." else path[:-1]
    parent = value_at(obj, tuple(parent_path)) if parent_path else obj
    if not present(parent):
        return
    if last.startswith("f:") and isinstance(parent, dict):
        if parent_path and parent_path[-1].startswith("k:") and last[2:] in json.loads(parent_path[-1][2:]):
            return
        parent.pop(last[2:], None)
    elif last.startswith("k:") and isinstance(parent, list):
        target = value_at(parent, (last,))
        if present(target):
            parent.remove(target)
    elif last.startswith("v:") and isinstance(parent, list):
        member = json.loads(last[2:])
        if member in parent:
            parent.remove(member)


def _prune(obj: dict[str, Any], stale: FieldSet, kept: FieldSet) -> None:
    """Remove the ``stale`` fields from ``obj``, except those with a ``kept`` field inside them.

    Shallow paths go first, so a list item dropped as a whole takes its fields with it
    instead of being emptied field by field.
    """
    if not stale:
        return
    containers = {path[:size] for path in kept for size in range(1, len(path))}
    for path in sorted(stale, key=len):
        item = path[:-1] if path[-1] == "." else path
        if item not in containers:
            _remove(obj, path)


class _Values:
    """The values of one object by field path: its leaves from one walk, other paths searched."""

    def __init__(
        self, obj: dict[str, Any] | None, schema: TypeSchema, subresource: str, *, strict: bool = False
    ) -> None:
        self.obj = obj or {}
        self.leaves = leaves(self.obj, schema, subresource=subresource, strict=strict)

    def at(self, path: FieldPath) -> Any:
        return self.leaves[path] if path in self.leaves else value_at(self.obj, path)


def _values_differ(a: _Values, b: _Values, path: FieldPath) -> bool:
    """Whether the field at ``path`` differs; a list item itself (``.``) only by being there or not."""
    left, right = a.at(path), b.at(path)
    if present(left) != present(right):
        return True
    return present(left) and path[-1] != "." and left != right


def server_side_apply(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    manager: str,
    *,
    force: bool,
    schema: TypeSchema,
    subresource: str = "",
) -> dict[str, Any]:
    """The object after ``manager`` applies ``applied`` to ``live`` (``None``: create)."""
    if not isinstance(applied, dict):
        raise MergeError("an apply configuration must be an object", code=400)
    api_version = str(applied.get("apiVersion", ""))
    metadata = applied.get("metadata")
    if isinstance(metadata, dict) and not SERVER_METADATA.isdisjoint(metadata):
        # The server sets these (a resourceVersion precondition is the caller's to check).
        applied = {**applied, "metadata": {k: v for k, v in metadata.items() if k not in SERVER_METADATA}}
    try:
        new_values = _Values(applied, schema, subresource, strict=True)
    except MergeError as err:
        raise MergeError(f"{object_ref(applied)}: {err}", code=err.code) from None
    new_fields: FieldSet = frozenset(new_values.leaves)
    base = clone(live) if live is not None else {}
    entries = _entries(base)
    if live is not None and not entries:
        # An object nobody manages yet (created before managedFields, or cleared): its fields
        # go to a placeholder manager, so the first apply conflicts where it changes them.
        live_fields = frozenset(_Values(base, schema, subresource).leaves)
        entries = [_entry(BEFORE_FIRST_APPLY, "Update", api_version, subresource, live_fields)]
    previous: FieldSet = frozenset()
    previous_time: str | None = None
    others: list[dict[str, Any]] = []
    for entry in entries:
        if _same_entry(entry, manager, "Apply", subresource):
            previous, previous_time = _owned(entry), entry.get("time")
        else:
            others.append(entry)

    live_values = _Values(base, schema, subresource) if others else new_values
    conflicts: list[tuple[str, str]] = []
    owners: dict[str, str] = {}
    kept: list[dict[str, Any]] = []
    owned_by_others: set[FieldPath] = set()
    for entry in others:
        owned = _owned(entry)
        contested = {p for p in owned & new_fields if _values_differ(new_values, live_values, p)}
        if contested and not force:
            conflicts += [(entry.get("manager", ""), describe(p)) for p in sorted(contested)]
            owners[entry.get("manager", "")] = _printed(entry)
        if contested and force:
            owned = owned - contested
        if owned:
            kept.append({**entry, "fieldsV1": to_fields_v1(owned)} if contested else entry)
            owned_by_others.update(owned)
    if conflicts:
        raise ApplyConflict(conflicts, owners)

    merged = _merge(base, applied, (), schema)
    _prune(merged, previous - new_fields - owned_by_others, new_fields | owned_by_others)

    merged.setdefault("metadata", {})
    if not new_fields:
        return _with_entries(merged, kept)
    mine = _entry(manager, "Apply", api_version, subresource, new_fields)
    if live is not None and _content(merged) == _content(base):
        # Nothing changed: the API server leaves the applier's time as it was (none if new).
        mine.pop("time")
        if previous_time:
            mine["time"] = previous_time
    return _with_entries(merged, [*kept, mine])


def record_update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    manager: str,
    *,
    operation: str = "Update",
    subresource: str = "",
    schema: TypeSchema | None = None,
) -> dict[str, Any]:
    """``new`` with managedFields updated for a create, update or patch by ``manager``.

    ``schema`` defaults to the built-in schema of ``new``'s type.
    """
    schema = schema or schema_for(str(new.get("apiVersion", "")), str(new.get("kind", "")))
    api_version = str(new.get("apiVersion", ""))
    supplied = None if subresource else _supplied_entries(new)
    entries = _entries(old) if supplied is None else supplied
    if old is not None and not entries:
        return _with_entries(new, [])  # the API server does not track writes to unmanaged objects
    new_values = _Values(new, schema, subresource)
    now_fields: FieldSet = frozenset(new_values.leaves)
    if old is None:
        changed = now_fields
    else:
        old_values = _Values(old, schema, subresource)
        changed = frozenset(p for p in now_fields if _values_differ(old_values, new_values, p))
    result: list[dict[str, Any]] = []
    mine: FieldSet = changed
    for entry in entries:
        owned = before = _owned(entry)
        if entry.get("subresource", "") == subresource:
            owned = (owned & now_fields) - changed
        if changed and _same_entry(entry, manager, operation, subresource):
            mine = mine | owned
            continue
        if owned:
            result.append(entry if owned == before else {**entry, "fieldsV1": to_fields_v1(owned)})
    if changed:
        result.append(_entry(manager, operation, api_version, subresource, mine))
    return _with_entries(new, result)
