"""Pydantic's validation errors, said as a Flux user needs them: one ``Problem`` per mistake.

Each names the field path as YAML spells it (``spec.ref.semver``), the line when known,
what was expected and the fix; a misspelt required field is one problem, not two.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel

from airflow_flux_provider.specs.errors import Problem, shown

#: Finds the YAML line of a field path (given as loc parts) when the object came from a file.
LineLookup = Callable[[Sequence[str | int]], int | None]


def problems_of(model: type[BaseModel], errors: list[Any], line_of: LineLookup) -> tuple[Problem, ...]:
    """One problem per mistake: a misspelt required field is one problem, not "unknown" plus "missing"."""
    missing = {tuple(e["loc"]) for e in errors if e["type"] == "missing"}
    misspelt: dict[tuple[Any, ...], str] = {}
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden" and loc:
            siblings = [str(m[-1]) for m in missing if m[:-1] == loc[:-1]]
            close = difflib.get_close_matches(str(loc[-1]), siblings, n=1, cutoff=0.6)
            if close:
                misspelt[loc] = close[0]
                missing.discard((*loc[:-1], close[0]))
    problems = []
    for error in errors:
        loc = tuple(error["loc"])
        if loc in misspelt:
            message = (
                f"unknown field {loc[-1]!r}: did you mean {misspelt[loc]!r}? It is required; fix the spelling"
            )
            problems.append(Problem(_field_path(loc), message, line_of(loc)))
        elif error["type"] != "missing" or loc in missing:
            problems.append(_problem(model, error, line_of))
    return tuple(problems)


def _problem(model: type[BaseModel], error: Any, line_of: LineLookup) -> Problem:
    loc: tuple[str | int, ...] = tuple(error["loc"])
    path = _field_path(loc)
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    leaf = str(loc[-1]) if loc else ""
    if kind == "missing":
        message = (
            f"required field {leaf!r} is missing; add it under {_field_path(loc[:-1]) or 'the top level'}"
        )
        return Problem(path, message, line_of(loc[:-1]))
    if kind == "extra_forbidden":
        known = _field_names(model, loc[:-1])
        message = (
            f"unknown field {leaf!r}{did_you_mean(leaf, known)}; Flux would reject it, "
            "so remove it or fix its spelling"
        )
    elif kind in _EXPECTED:
        message = f"expected {_EXPECTED[kind]}, got {describe(value)}"
        if kind == "string_type" and isinstance(value, int | float | bool):
            message += f"; quote it ({_quoted(value)})"
        if kind == "bool_type" and isinstance(value, str):
            message += " (write true or false without quotes)"
    elif kind == "literal_error":
        message = f"{shown(value)} is not allowed; expected {ctx.get('expected')}"
    elif kind == "string_pattern_mismatch":
        message = f"{shown(value)} does not match the required pattern {ctx.get('pattern')}"
    elif kind == "string_too_short" and ctx.get("min_length") == 1:
        message = "must not be empty"
    elif kind == "value_error" or kind.startswith("flux_"):
        message = str(error["msg"]).removeprefix("Value error, ")
    else:
        message = f"{error['msg']} (got {describe(value)})"
    placeholder = isinstance(value, str) and "${" in value
    if placeholder:
        message += (
            "; the value is a post-build variable: validate the manifests after substitution "
            "(as the Kustomization applying them renders them)"
        )
    return Problem(path, message, line_of(loc), placeholder)


_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "list_type": "a list",
    "timedelta_type": "a Go duration such as 1m",
}


def _field_path(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {shown(value)}"


def _quoted(value: Any) -> str:
    text = "true" if value is True else "false" if value is False else str(value)
    return f'"{text}"'


def did_you_mean(word: str, candidates: Any) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _field_names(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The YAML field names of the model found at ``loc`` (for spelling suggestions)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = next(
            (f for n, f in current.model_fields.items() if part in (n, f.alias)),
            None,
        )
        if field is None:
            return []
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _model_in(annotation: Any) -> Any:
    """The model class inside ``X | None``, ``list[X]`` or ``Annotated[X, ...]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
