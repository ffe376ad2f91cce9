"""Field sets in the API server's ``fieldsV1`` notation, and reading values at a field path.

A path is a tuple of elements: ``f:<name>`` (a map field), ``k:<json>`` (the item of an
associative list with these key values), ``v:<json>`` (a member of a set list) and
``.`` (the list item itself). A field set is the set of leaf paths an object sets,
which is what managers own.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from flux_devkit.sandbox.merge.errors import MergeError
from flux_devkit.sandbox.merge.schema import KEY_DEFAULTS, ListType, Path, TypeSchema

FieldPath = tuple[str, ...]
FieldSet = frozenset[FieldPath]

# Metadata the API server sets; an apply configuration's values for them are ignored.
SERVER_METADATA = frozenset({
    "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
    "deletionGracePeriodSeconds", "managedFields", "selfLink",
})  # fmt: skip
# Identity and server-owned metadata never count as fields a manager sets.
_IGNORED_METADATA = SERVER_METADATA | {"name", "namespace", "generateName"}
_MISSING = object()
_ELEMENTS = ("f:", "k:", "v:", "i:", ".")


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def clone(value: Any) -> Any:
    """A deep copy of JSON data (dicts, lists, scalars), several times faster than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


def item_key(item: Any, list_type: ListType) -> str:
    """The ``k:`` element of an associative list item, missing key fields taking their defaults."""
    values = dict(list_type.key_defaults)
    if isinstance(item, dict):
        values.update({k: item[k] for k in list_type.keys if k in item})
    # The value's type is part of the cache key: 1, 1.0 and True are equal but print differently.
    keyed = tuple((k, type(values[k]), values[k]) for k in list_type.keys if k in values)
    try:
        return _key_element(keyed)
    except TypeError:  # an unhashable key value: rare, not worth caching
        return "k:" + _json({k: v for k, _, v in keyed})


@functools.lru_cache(maxsize=4096)
def _key_element(keyed: tuple[tuple[str, type, Any], ...]) -> str:
    return "k:" + _json({k: v for k, _, v in keyed})


def leaves(
    obj: dict[str, Any], schema: TypeSchema, *, subresource: str = "", strict: bool = False
) -> dict[FieldPath, Any]:
    """Every leaf path ``obj`` sets, with its value (status only for the status subresource).

    These are the fields a manager writing ``obj`` owns. A list item's own ``.`` path maps to
    the item. One walk gives both the field set and the values to compare, so conflict checks
    never search the object path by path. ``strict`` refuses associative-list items without
    their key fields, as the API server does for an apply configuration.
    """
    out: dict[FieldPath, Any] = {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if (key == "status") != (subresource == "status"):
            continue
        if key == "metadata" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in _IGNORED_METADATA}
            if not value:
                continue
        _walk(value, (key,), (f"f:{key}",), schema, out, strict)
    return out


def _walk(
    value: Any, names: Path, path: FieldPath, schema: TypeSchema, out: dict[FieldPath, Any], strict: bool
) -> None:
    if isinstance(value, dict) and value and not schema.is_atomic_map(names):
        for key, child in value.items():
            if child is not None:  # null: not specified, so not owned
                _walk(child, (*names, key), (*path, f"f:{key}"), schema, out, strict)
        return
    if isinstance(value, list) and value:
        list_type = schema.list_type(names)
        if list_type.kind == "set":
            out.update(((*path, f"v:{_json(item)}"), True) for item in value)
            return
        if list_type.kind == "map" and all(isinstance(item, dict) for item in value):
            for number, item in enumerate(value):
                if strict:
                    _check_keys(item, number, list_type, names)
                item_path = (*path, item_key(item, list_type))
                out[(*item_path, ".")] = item
                for key, child in item.items():
                    _walk(child, (*names, key), (*item_path, f"f:{key}"), schema, out, strict)
            return
    out[path] = value


def _check_keys(item: dict[str, Any], number: int, list_type: ListType, names: Path) -> None:
    defaults = dict(list_type.key_defaults)
    for key in list_type.keys:
        if key not in item and key not in defaults:
            raise MergeError(
                f".{'.'.join(names)}: element {number}: associative list with keys has an element that "
                f'omits key field "{key}" (and doesn\'t have default value); set {key} on every item'
            )


def value_at(obj: Any, path: FieldPath) -> Any:
    """The value at ``path`` in ``obj``, or a sentinel when absent (compare with :func:`present`)."""
    node = obj
    for element in path:
        if element == ".":
            continue
        if element.startswith("f:"):
            if not isinstance(node, dict) or element[2:] not in node:
                return _MISSING
            node = node[element[2:]]
        elif element.startswith("k:"):
            wanted = json.loads(element[2:])
            if not isinstance(node, list):
                return _MISSING
            node = next(
                (
                    i
                    for i in node
                    if isinstance(i, dict)
                    and all(i.get(k, KEY_DEFAULTS.get(k)) == v for k, v in wanted.items())
                ),
                _MISSING,
            )
            if node is _MISSING:
                return _MISSING
        elif element.startswith("v:"):
            member = json.loads(element[2:])
            return True if isinstance(node, list) and member in node else _MISSING
    return node


def present(value: Any) -> bool:
    return value is not _MISSING


def to_fields_v1(paths: FieldSet) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    return tree


def from_fields_v1(tree: Any) -> FieldSet:
    """The leaf paths of a ``fieldsV1`` trie; :class:`MergeError` if it is not one.

    Walked without recursion: a request may send ``managedFields`` of any depth.
    """
    if not isinstance(tree, dict):
        raise MergeError("fieldsV1 must be an object")
    paths: set[FieldPath] = set()
    pending: list[tuple[FieldPath, dict[str, Any]]] = [((), tree)]
    while pending:
        prefix, node = pending.pop()
        for element, child in node.items():
            if not isinstance(child, dict) or not element.startswith(_ELEMENTS):
                raise MergeError(f"fieldsV1 has an invalid element {element[:64]!r}")
            path = (*prefix, element)
            if child:
                pending.append((path, child))
            else:
                paths.add(path)
    return frozenset(paths)


def describe(path: FieldPath) -> str:
    """The way the API server prints a field path in conflicts: ``.spec.containers[name="app"].image``."""
    text = ""
    for element in path:
        if element.startswith("f:"):
            text += "." + element[2:]
        elif element.startswith("k:"):
            keys = json.loads(element[2:])
            text += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]"
        elif element.startswith("v:"):
            text += f"[={element[2:]}]"
    return text
