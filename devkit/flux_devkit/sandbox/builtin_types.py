"""Built-in kinds decoded the way the API server's Go types decode them: types checked, unknowns found.

A real server refuses ``env: [{name: A, value: 1}]`` with 400 (``cannot unmarshal number
into Go struct field EnvVar...value of type string``) and drops or refuses fields its
types do not have. The field names and types come from the models of the official
``kubernetes`` Python client (generated from the same OpenAPI document), so the sandbox
checks what a real server checks without carrying a copy of that document.
Quantities and int-or-string fields accept what their Go types accept; quantities are stored
in the canonical form the server writes (``0.5`` becomes ``500m``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client import models

from flux_devkit.sandbox import quantity

# JSON keys of maps whose values are resource.Quantity (a number or a string).
_QUANTITY_MAPS = frozenset(
    {
        "allocatable",
        "allocatedResources",
        "capacity",
        "default",
        "defaultRequest",
        "hard",
        "limits",
        "max",
        "maxLimitRequestRatio",
        "min",
        "overhead",
        "requests",
        "used",
    }
)
_QUANTITIES = frozenset({"sizeLimit", "divisor"})
# ``object`` in the client models: these are IntOrString; the rest is free-form JSON.
_INT_OR_STRING = frozenset({"port", "targetPort", "maxSurge", "maxUnavailable", "minAvailable"})
_PRIMITIVES: dict[str, tuple[tuple[type, ...], str]] = {
    "str": ((str,), "string"),
    "datetime": ((str,), "Time"),
    "date": ((str,), "string"),
    "int": ((int,), "int"),
    "float": ((int, float), "float64"),
    "bool": ((bool,), "bool"),
    "quantity": ((str, int, float), "Quantity"),  # resource.Quantity (_QUANTITIES, _QUANTITY_MAPS)
}
_CONTAINER = re.compile(r"(list|dict)\[(?:str, )?(.+)\]")


@dataclass
class Decoded:
    """The object as stored (unknown fields dropped) and what the decoder met on the way."""

    value: Any
    unknown: list[str] = field(default_factory=list)
    error: str | None = None  # the first type error, worded like Go's encoding/json


def model_for(group: str, version: str, kind: str) -> type | None:
    """The client model of a built-in kind (``V1Deployment``, ``CoreV1Event``), if there is one."""
    prefix = "Core" if not group else "".join(p.capitalize() for p in group.split(".")[0].split("-"))
    for name in (f"{version.capitalize()}{kind}", f"{prefix}{version.capitalize()}{kind}"):
        model = getattr(models, name, None)
        if isinstance(model, type) and hasattr(model, "openapi_types"):
            return model
    return None


@functools.cache
def _fields(model: type) -> dict[str, str]:
    """JSON key -> client type string (``str``, ``list[V1Container]``, ``dict[str, str]``, ...)."""
    types: dict[str, str] = model.openapi_types  # type: ignore[attr-defined]
    keys: dict[str, str] = model.attribute_map  # type: ignore[attr-defined]
    return {keys[py]: kind for py, kind in types.items()}


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def _go_name(model: type) -> str:
    return re.sub(r"^(Core|[A-Z][a-z]+)?V\d+((alpha|beta)\d+)?", "", model.__name__) or model.__name__


def decode(obj: dict[str, Any], model: type) -> Decoded:
    """Walk ``obj`` against ``model``; ``apiVersion``/``kind`` are checked by the caller."""
    result = Decoded(None)
    result.value = _walk(obj, model.__name__, _go_name(model), "", "", result)
    return result


def _walk(value: Any, kind: str, struct: str, path: str, key: str, out: Decoded) -> Any:
    """``struct`` names the innermost Go struct, ``path`` the field (``spec.containers[0].env``)."""
    if value is None or out.error:
        return value
    wrong = ""
    if kind == "str" and key in _QUANTITIES:
        kind = "quantity"
    if kind in _PRIMITIVES:
        accepted, go_type = _PRIMITIVES[kind]
        if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted):
            wrong = go_type
        elif kind == "quantity" and isinstance(value, str | int | float):
            try:
                return quantity.canonical(value)
            except quantity.QuantityError as err:
                out.error = str(err)
                return value
    elif kind == "object":
        if key in _INT_OR_STRING and (isinstance(value, bool) or not isinstance(value, int | str)):
            wrong = "intstr.IntOrString"
    elif container := _CONTAINER.fullmatch(kind):
        outer, inner = container.groups()
        if outer == "list":
            if not isinstance(value, list):
                wrong = f"[]{inner}"
            else:
                return [_walk(item, inner, struct, f"{path}[{i}]", key, out) for i, item in enumerate(value)]
        elif not isinstance(value, dict):
            wrong = f"map[string]{inner}"
        else:
            inner = "quantity" if key in _QUANTITY_MAPS and inner == "str" else inner
            return {k: _walk(v, inner, struct, path, key, out) for k, v in value.items()}
    else:
        model = getattr(models, kind, None)
        if model is None:  # a type this client does not know: keep what was sent
            return value
        if not isinstance(value, dict):
            wrong = _go_name(model)
        else:
            return _walk_struct(value, model, path, out)
    if wrong:
        dotted = re.sub(r"\[\d+\]", "", path)  # Go names the field without list indices
        where = f"{struct}.{dotted}" if dotted else struct
        out.error = f"json: cannot unmarshal {_json_kind(value)} into Go struct field {where} of type {wrong}"
    return value


def _walk_struct(value: dict[str, Any], model: type, path: str, out: Decoded) -> dict[str, Any]:
    fields = _fields(model)
    struct = _go_name(model)
    kept: dict[str, Any] = {}
    for key, item in value.items():
        child = f"{path}.{key}" if path else key
        if key in fields:
            kept[key] = _walk(item, fields[key], struct, child, key, out)
        else:
            out.unknown.append(child)
    return kept
