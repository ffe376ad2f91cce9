"""Custom resources against their CRD's structural schema: pruning, defaults, strict field checks, types.

The API server drops fields a CRD schema does not declare (unless
``x-kubernetes-preserve-unknown-fields``), refuses them when the client asks for
``fieldValidation=Strict`` (kubectl does), fills in ``default`` values of absent fields,
and rejects wrong types, missing required fields and values outside an enum with 422.
Flux and Flagger objects go through this.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from airflow_flux_provider import patterns

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}
_ROOT_FIELDS = ("apiVersion", "kind", "metadata")


@dataclass
class Findings:
    fill_defaults: bool = True  # not for apply configurations: nobody owns a defaulted field
    unknown: list[str] = field(default_factory=list)  # paths of undeclared fields (pruned)
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (path, message) for 422 causes


def _shown(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else f'"{value}"'


def _type_ok(value: Any, schema: dict[str, Any]) -> bool:
    wanted = schema.get("type")
    if value is None:
        return bool(schema.get("nullable")) or not wanted
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, int | str) and not isinstance(value, bool)
    if not wanted or wanted not in _TYPES:
        return True
    if wanted in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[wanted])


def _walk(value: Any, schema: dict[str, Any], path: str, found: Findings, *, root: bool = False) -> Any:
    if not _type_ok(value, schema):
        found.invalid.append(
            (
                path,
                f"Invalid value: {_shown(value)}: {path} in body must be of type {schema.get('type')}: "
                f'"{type(value).__name__}"',
            )
        )
        return value
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(_shown(v) for v in schema["enum"])
        found.invalid.append((path, f"Unsupported value: {_shown(value)}: supported values: {supported}"))
    for problem in _bounds(value, schema, path):
        found.invalid.append((path, f"Invalid value: {_shown(value)}: {problem}"))
    if isinstance(value, dict):
        return _walk_object(value, schema, path, found, root=root)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_walk(item, schema["items"], f"{path}[{i}]", found) for i, item in enumerate(value)]
    return value


def _bounds(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    """The OpenAPI value validations (pattern, lengths, ranges, item counts), worded as the API server."""
    problems = []
    if isinstance(value, str):
        pattern = schema.get("pattern")
        compiled = _compiled(pattern) if pattern else None
        if compiled is not None and compiled.search(value) is None:
            problems.append(f"{path} in body should match '{pattern}'")
        if "minLength" in schema and len(value) < schema["minLength"]:
            problems.append(f"{path} in body should be at least {schema['minLength']} chars long")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{path} in body may not be longer than {schema['maxLength']}")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        exclusive = schema.get("exclusiveMinimum") is True
        if "minimum" in schema and (value <= schema["minimum"] if exclusive else value < schema["minimum"]):
            relation = "greater than" if exclusive else "greater than or equal to"
            problems.append(f"{path} in body should be {relation} {schema['minimum']}")
        exclusive = schema.get("exclusiveMaximum") is True
        if "maximum" in schema and (value >= schema["maximum"] if exclusive else value > schema["maximum"]):
            relation = "less than" if exclusive else "less than or equal to"
            problems.append(f"{path} in body should be {relation} {schema['maximum']}")
    elif isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            problems.append(f"{path} in body should have at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(f"{path} in body should have at most {schema['maxItems']} items")
    return problems


def _compiled(pattern: str) -> Any:
    """The pattern as the API server runs it (Go RE2, linear time), or None when it does not compile."""
    try:
        return patterns.regex(pattern)
    except patterns.PatternError:
        return None


def _walk_object(
    value: dict[str, Any], schema: dict[str, Any], path: str, found: Findings, *, root: bool
) -> Any:
    properties: dict[str, Any] = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
    embedded = root or schema.get("x-kubernetes-embedded-resource") is True
    result: dict[str, Any] = {}
    for key, item in value.items():
        child = f"{path}.{key}" if path else key
        if embedded and key in _ROOT_FIELDS:  # ObjectMeta is validated as metadata, not by the schema
            result[key] = item
        elif key in properties:
            result[key] = _walk(item, properties[key], child, found)
        elif isinstance(additional, dict):
            result[key] = _walk(item, additional, child, found)
        elif preserve or additional is True or (not properties and not schema.get("type")):
            result[key] = item
        else:
            found.unknown.append(child)
    for key, prop in properties.items() if found.fill_defaults else ():  # structural defaulting
        if key not in result and isinstance(prop, dict) and "default" in prop:
            result[key] = copy.deepcopy(prop["default"])
    for key in schema.get("required") or []:
        if key not in value:
            found.invalid.append((f"{path}.{key}" if path else key, "Required value"))
    return result


def conform(
    obj: dict[str, Any], schema: dict[str, Any] | None, *, fill_defaults: bool = True
) -> tuple[dict[str, Any], Findings]:
    """The object pruned to its schema (and defaulted), and what was unknown or invalid on the way."""
    found = Findings(fill_defaults)
    if not schema:
        return obj, found
    pruned = _walk(obj, schema, "", found, root=True)
    return pruned, found
