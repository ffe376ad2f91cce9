"""commonMetadata and the origin labels set in our own process, without a kustomize run.

helm-controller sets them with kustomize's builtin LabelTransformer and AnnotationsTransformer
on each object's ``metadata``. When a release has no kustomize post-renderer and no target
namespace, that is all kustomize would do to helm's output, and starting ``kubectl kustomize``
for it was the largest cost a release added to plain helm. :func:`stamp` does the same only
for a stream whose reading nobody can disagree on; for anything else (a plain scalar that YAML
1.1 and 1.2 read differently such as ``yes`` or ``0755``, an alias, a tag, a ``List``, a
duplicate object, missing or null metadata) it returns None and kustomize decides, so the
result is always kustomize's.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_STR, _BOOL, _NULL = "tag:yaml.org,2002:str", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"
_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
# plain scalars every reader (kustomize's yaml.v3, helm's YAML 1.1, PyYAML) types alike
_PLAIN = {
    _BOOL: re.compile(r"true|false|True|False|TRUE|FALSE"),
    _NULL: re.compile(r"|~|null|Null|NULL"),
    _INT: re.compile(r"-?(0|[1-9][0-9]{0,17})"),
    _FLOAT: re.compile(r"-?(0|[1-9][0-9]{0,14})\.[0-9]{1,15}"),
}
_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "<<", ""}  # any case
_NUMBER_START = re.compile(r"[-+]?(\.?[0-9]|\.(inf|nan))", re.I)
_NUMBER = re.compile(
    r"[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?|[-+]?(0[xob].*|\.inf|\.nan)", re.I
)
_QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)*([a-z][a-z0-9]*)?", re.I)  # 10Gi, 100m, 1.2.3


def _plain_string(value: str) -> bool:
    """A string that no reader (YAML 1.1 or 1.2) takes for a boolean, null or number unquoted."""
    if value.lower() in _WORDS:
        return False
    if _NUMBER_START.match(value):
        return bool(_QUANTITY.fullmatch(value)) and not _NUMBER.fullmatch(value)
    return True


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML was built with it


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Quotes every string that is not a :func:`_plain_string`, so helm reads back a string."""


def _represent_str(dumper: _Dumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar(_STR, value, style=None if _plain_string(value) else '"')


_Dumper.add_representer(str, _represent_str)


def _unambiguous(node: yaml.Node, seen: set[int]) -> bool:
    """Every scalar under ``node`` reads the same in every reader; no alias, tag or duplicate key."""
    if id(node) in seen:
        return False  # an alias: kustomize de-anchors it, a reader may not
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        if node.style:  # quoted or block ('' or None: plain): a string unless tagged otherwise
            return bool(node.tag == _STR)
        pattern = _PLAIN.get(node.tag)
        if pattern is not None:
            return bool(pattern.fullmatch(node.value))
        return bool(node.tag == _STR and _plain_string(node.value))
    if isinstance(node, yaml.SequenceNode):
        return node.tag == _SEQ and all(_unambiguous(item, seen) for item in node.value)
    if not isinstance(node, yaml.MappingNode) or node.tag != _MAP:
        return False
    keys = [key.value for key, _ in node.value]
    if len(set(keys)) != len(keys):
        return False
    return all(
        isinstance(key, yaml.ScalarNode) and key.tag == _STR and _unambiguous(key, seen)
        and _unambiguous(value, seen)
        for key, value in node.value
    )  # fmt: skip


def _identity(obj: Any) -> tuple[str, str, str, str] | None:
    """(apiVersion, kind, namespace, name) of an object kustomize takes as it is, else None."""
    if not isinstance(obj, dict):
        return None
    meta = obj.get("metadata")
    api, kind = obj.get("apiVersion"), obj.get("kind")
    if not (isinstance(api, str) and api and isinstance(kind, str) and kind and isinstance(meta, dict)):
        return None
    name, namespace = meta.get("name"), meta.get("namespace", "")
    if kind.endswith("List") or not (isinstance(name, str) and name and isinstance(namespace, str)):
        return None  # kustomize expands a List's items and refuses an object without a name
    if any(field in meta and not isinstance(meta[field], dict) for field in ("labels", "annotations")):
        return None
    return api, kind, namespace or "default", name  # kustomize takes no namespace for 'default'


def stamp(text: str, labels: dict[str, str], annotations: dict[str, str]) -> str | None:
    """``text`` (helm's rendered objects) with ``labels`` and ``annotations`` merged into each
    object's own metadata (theirs win a key collision), as kustomize writes it: keys sorted,
    empty documents dropped. None when kustomize must run instead (see the module doc)."""
    loader = _Loader(text)
    objects: list[dict[str, Any]] = []
    identities: set[tuple[str, str, str, str]] = set()
    try:
        while loader.check_node():
            node = loader.get_node()
            assert node is not None  # check_node said there is one
            if node.tag == _NULL and not node.value:
                continue  # an empty document
            if not _unambiguous(node, set()):
                return None
            obj = loader.construct_document(node)
            identity = _identity(obj)
            if identity is None or identity in identities:
                return None  # kustomize's to refuse or rewrite
            identities.add(identity)
            objects.append(obj)
    except (yaml.YAMLError, RecursionError):
        return None  # kustomize reports what is wrong with it, or copes with the depth
    finally:
        loader.dispose()
    for obj in objects:
        meta = obj["metadata"]
        for field, values in (("labels", labels), ("annotations", annotations)):
            if values:
                meta[field] = {**meta.get(field, {}), **values}
    return yaml.dump_all(objects, Dumper=_Dumper, sort_keys=True, allow_unicode=True, width=1 << 30)
