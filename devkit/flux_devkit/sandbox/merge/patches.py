"""JSON patch (RFC 6902), JSON merge patch (RFC 7386) and Kubernetes strategic merge patch."""

from __future__ import annotations

from typing import Any

from flux_devkit.sandbox.merge.errors import MergeError, naming_the_object
from flux_devkit.sandbox.merge.fieldset import clone
from flux_devkit.sandbox.merge.schema import ListType, Path, TypeSchema

# -- RFC 6902 -----------------------------------------------------------------------------------


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise MergeError(f"invalid JSON pointer {path!r}: it must be empty or start with '/'")
    return [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]] if path else []


def _index(container: list[Any], token: str, *, allow_end: bool, path: str) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise MergeError(f"invalid array index {token!r} in {path}")
    index = int(token)
    if index > len(container) or (index == len(container) and not allow_end):
        raise MergeError(f"array index {index} is out of range in {path}")
    return index


def _parent(doc: Any, parts: list[str], path: str) -> Any:
    node = doc
    for token in parts[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise MergeError(f"path {path} does not exist: missing {token!r}")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, allow_end=False, path=path)]
        else:
            raise MergeError(f"path {path} does not exist: {token!r} is inside a scalar")
    return node


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent = _parent(doc, parts, path)
    token = parts[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise MergeError(f"path {path} does not exist")
        return parent[token]
    if isinstance(parent, list):
        return parent[_index(parent, token, allow_end=False, path=path)]
    raise MergeError(f"path {path} does not exist")


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _parent(doc, parts, path)
    token = parts[-1]
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, token, allow_end=True, path=path), value)
    else:
        raise MergeError(f"cannot add {path}: its parent is a scalar")
    return doc


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        raise MergeError("cannot remove the whole document")
    parent = _parent(doc, parts, path)
    token = parts[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise MergeError(f"cannot remove {path}: it does not exist")
        return parent.pop(token)
    if isinstance(parent, list):
        return parent.pop(_index(parent, token, allow_end=False, path=path))
    raise MergeError(f"cannot remove {path}: it does not exist")


def _json_equal(a: Any, b: Any) -> bool:
    """RFC 6902 equality: JSON types must match, so ``true`` is not ``1`` (as it is in Python)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@naming_the_object
def json_patch(obj: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    doc: Any = clone(obj)
    for number, op in enumerate(ops):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise MergeError(f"operation {number} must be an object with 'op' and 'path'")
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise MergeError(f"operation {number} ({kind} {path}) is missing 'value'")
        if kind == "add":
            doc = _add(doc, path, clone(op["value"]))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)
            if _pointer(path):
                _remove(doc, path)
            doc = _add(doc, path, clone(op["value"]))
        elif kind in ("move", "copy"):
            source = op.get("from")
            if source is None:
                raise MergeError(f"operation {number} ({kind} {path}) is missing 'from'")
            if kind == "move" and (path + "/").startswith(source + "/") and path != source:
                raise MergeError(f"cannot move {source} into its own child {path}")
            value = _remove(doc, source) if kind == "move" else clone(_get(doc, source))
            doc = _add(doc, path, value)
        elif kind == "test":
            if not _json_equal(_get(doc, path), op["value"]):
                raise MergeError(f"test operation failed: {path} is not {op['value']!r}")
        else:
            raise MergeError(f"unknown operation {kind!r} at index {number}")
    if not isinstance(doc, dict):
        raise MergeError("the patched document must stay an object")
    return doc


# -- RFC 7386 -----------------------------------------------------------------------------------


def merge_patch(obj: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    def merge(target: Any, change: Any) -> Any:
        if not isinstance(change, dict):
            return clone(change)
        result = dict(target) if isinstance(target, dict) else {}
        for key, value in change.items():
            if value is None:
                result.pop(key, None)
            else:
                result[key] = merge(result.get(key), value)
        return result

    return merge(obj, patch)


# -- strategic merge patch ----------------------------------------------------------------------

_DELETE_FROM = "$deleteFromPrimitiveList/"
_ORDER = "$setElementOrder/"


@naming_the_object
def strategic_merge_patch(obj: dict[str, Any], patch: dict[str, Any], schema: TypeSchema) -> dict[str, Any]:
    result = _smp_map(obj, patch, (), schema)
    if not isinstance(result, dict):
        raise MergeError("a strategic merge patch cannot delete the whole object")
    return result


def _smp_map(original: Any, patch: dict[str, Any], names: Path, schema: TypeSchema) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    body = {k: v for k, v in patch.items() if not k.startswith("$")}
    if directive == "replace":
        return clone(body)
    if directive not in (None, "merge"):
        raise MergeError(f"unknown $patch directive {directive!r}")
    result = dict(original) if isinstance(original, dict) else {}
    retain = patch.get("$retainKeys")
    if retain is not None:
        result = {k: v for k, v in result.items() if k in retain}
    for key, value in body.items():
        path = (*names, key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):  # patchStrategy, not structType: every map merges
            merged = _smp_map(result.get(key), value, path, schema)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _smp_list(result.get(key), value, path, schema)
        else:
            result[key] = clone(value)
    for key, value in patch.items():
        if key.startswith(_DELETE_FROM):
            field = key[len(_DELETE_FROM) :]
            if isinstance(result.get(field), list):
                result[field] = [item for item in result[field] if item not in (value or [])]
        elif key.startswith(_ORDER):
            field = key[len(_ORDER) :]
            if isinstance(result.get(field), list):
                result[field] = _reorder(result[field], value, schema.list_type((*names, field)))
        elif key in ("$patch", "$retainKeys") or not key.startswith("$"):
            continue
        else:
            raise MergeError(f"unknown strategic merge patch directive {key!r}")
    return result


def _smp_list(original: Any, patch: list[Any], names: Path, schema: TypeSchema) -> list[Any]:
    current = list(original) if isinstance(original, list) else []
    list_type = schema.list_type(names)
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [clone(i) for i in patch if not (isinstance(i, dict) and i.get("$patch") == "replace")]
    if list_type.kind == "set":
        return current + [clone(item) for item in patch if item not in current]
    if list_type.kind != "map":
        return clone(patch)
    key = list_type.keys[0]  # strategic merge patch merges by the single patchMergeKey
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise MergeError(f"every item of {'.'.join(names)} must be an object with the merge key {key!r}")
        index = next(
            (i for i, old in enumerate(current) if isinstance(old, dict) and old.get(key) == item[key]), None
        )
        if item.get("$patch") == "delete":
            if index is not None:
                current.pop(index)
            continue
        if index is None:
            current.append(_smp_map({}, item, names, schema))
        else:
            current[index] = _smp_map(current[index], item, names, schema)
    return current


def _reorder(items: list[Any], order: Any, list_type: ListType) -> list[Any]:
    """``$setElementOrder``: the listed items first, in that order, then the others as they were."""
    if not isinstance(order, list):
        raise MergeError("a $setElementOrder directive must be a list")

    def identity(item: Any) -> Any:
        if list_type.kind == "map" and isinstance(item, dict):
            return item.get(list_type.keys[0])
        return item

    wanted = [identity(item) for item in order]
    ranked = sorted((i for i in items if identity(i) in wanted), key=lambda i: wanted.index(identity(i)))
    return ranked + [i for i in items if identity(i) not in wanted]
