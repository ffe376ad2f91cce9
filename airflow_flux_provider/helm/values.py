"""Values composition in Flux's order, and the digest that decides whether to upgrade.

Order (lowest first): the chart's ``valuesFiles`` (merged into the chart as source-controller
does), ``valuesFrom`` entries in list order, inline ``values``, every ``targetPath``
assignment re-applied (so it wins over inline values, as in Flux), then the values a DAG
passes in (params, Airflow Variables). Strings read from Secrets are returned as
``secrets`` so every log line and error can be scrubbed of them.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from airflow_flux_provider.helm.errors import ValuesError
from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.specs import HelmRelease

_INDEX = re.compile(r"^(.*?)\[(\d{1,5})\]$")
_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")


@dataclass
class ComposedValues:
    values: dict[str, Any]
    secrets: list[str] = field(default_factory=list)

    @property
    def digest(self) -> str:
        return values_digest(self.values)


def values_digest(values: dict[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical (sorted-key) JSON encoding, as ``lastAttemptedConfigDigest``."""
    encoded = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(encoded.encode()).hexdigest()


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``top`` merged in: maps merge recursively, everything else replaces."""
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _path_parts(path: str) -> list[str | int]:
    """Split a Helm ``--set`` path: ``.`` separates (``\\.`` escapes it), ``name[3]`` indexes."""
    parts: list[str | int] = []
    for segment in re.split(r"(?<!\\)\.", path):
        segment = segment.replace("\\.", ".")
        indexes: list[int] = []
        while match := _INDEX.match(segment):
            segment, index = match[1], int(match[2])
            indexes.insert(0, index)
        if segment:
            parts.append(segment)
        parts.extend(indexes)
    return parts


def _typed(raw: str) -> Any:
    """Helm ``--set`` typing: quoted → string, ``true``/``false``/``null``, integers, else string."""
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    if raw in ("true", "false"):
        return raw == "true"
    if raw == "null":
        return None
    if _INT.match(raw):
        return int(raw)
    return raw


def set_path(values: dict[str, Any], path: str, value: Any) -> None:
    """Assign ``value`` at a Helm ``--set`` style ``path``, creating maps and growing lists."""
    parts = _path_parts(path)
    node: Any = values
    for here, nxt in zip(parts, [*parts[1:], None], strict=True):
        last = nxt is None
        empty: Any = [] if isinstance(nxt, int) else {}
        if isinstance(here, int):
            if not isinstance(node, list):
                raise ValueError(f"{path!r} indexes something that is not a list")
            node.extend([None] * (here + 1 - len(node)))
            if last:
                node[here] = value
            elif not isinstance(node[here], (dict, list)):
                node[here] = empty
            node = node[here]
        else:
            if not isinstance(node, dict):
                raise ValueError(f"{path!r} names a key inside something that is not a map")
            if last:
                node[here] = value
            elif not isinstance(node.get(here), (dict, list)):
                node[here] = empty
            node = node[here]


def _decoded(obj: dict[str, Any], kind: str) -> dict[str, str]:
    if kind == "ConfigMap":
        return {str(k): str(v) for k, v in (obj.get("data") or {}).items()}
    return {str(k): base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}


def compose_values(
    hr: HelmRelease,
    cluster: Cluster | None,
    *,
    values_files: Iterable[tuple[str, str]] = (),
    overrides: dict[str, Any] | None = None,
) -> ComposedValues:
    """The values to release ``hr`` with; ``values_files`` are ``(name, text)`` from the chart."""
    result: dict[str, Any] = {}
    for name, text in values_files:
        result = deep_merge(result, _load_yaml(text, hr, f"spec.chart.spec.valuesFiles ({name})"))
    secrets: list[str] = []
    assignments: list[tuple[str, Any]] = []
    for index, ref in enumerate(hr.spec.values_from):
        where = f"spec.valuesFrom[{index}]"
        ref_name = f"{ref.kind} chart values reference '{hr.metadata.namespace}/{ref.name}'"
        if cluster is None:
            raise ValuesError(f"{ref_name} needs a Kubernetes connection", obj=hr.ref, field=where)
        obj = cluster.get(ObjectKey("v1", ref.kind, hr.metadata.namespace, ref.name))
        if obj is None:
            if ref.optional:
                continue
            raise ValuesError(
                f"could not resolve {ref_name} with key '{ref.values_key}': resource not found; create "
                "it or set optional: true",
                obj=hr.ref,
                field=where,
            )
        data = _decoded(obj, ref.kind)
        if ref.kind == "Secret":
            secrets.extend(v for v in data.values() if v.strip())
        if ref.values_key not in data:
            if ref.optional:
                continue
            raise ValuesError(
                f"could not resolve {ref_name} with key '{ref.values_key}': key not found; keys present: "
                f"{', '.join(sorted(data)) or 'none'}",
                obj=hr.ref,
                field=f"{where}.valuesKey",
            )
        raw = data[ref.values_key]
        if ref.target_path:
            value = raw if ref.literal else _typed(raw)
            assignments.append((ref.target_path, value))
            _assign(result, ref.target_path, value, hr, where)
        else:
            loaded = _load_yaml(raw, hr, f"{where} ({ref.kind}/{ref.name} key {ref.values_key})")
            result = deep_merge(result, loaded)
    result = deep_merge(result, hr.spec.values)
    for path, value in assignments:
        _assign(result, path, value, hr, "spec.valuesFrom.targetPath")
    if overrides:
        result = deep_merge(result, overrides)
    return ComposedValues(result, secrets)


def _assign(values: dict[str, Any], path: str, value: Any, hr: HelmRelease, where: str) -> None:
    try:
        set_path(values, path, value)
    except ValueError as err:
        raise ValuesError(
            f"failed to merge value at targetPath: {err}; point targetPath at a map key or list index",
            obj=hr.ref,
            field=where,
        ) from None


def _load_yaml(text: str, hr: HelmRelease, where: str) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise ValuesError(
            f"failed to read values data: not valid YAML{line}; fix the YAML", obj=hr.ref, field=where
        ) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ValuesError("values must be a YAML mapping (key: value)", obj=hr.ref, field=where)
    return loaded
