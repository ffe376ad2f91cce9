"""Label and field selectors as the list and watch verbs accept them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flux_devkit.sandbox.status import bad_request

Predicate = Callable[[dict[str, Any]], bool]

_SET_EXPR = re.compile(r"^\s*([A-Za-z0-9./_-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_OP_EXPR = re.compile(r"^\s*(!?)([A-Za-z0-9./_-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9._-]*))?\s*$")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside a ``( … )`` value set."""
    terms, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += ch
    terms.append(current)
    return [t for t in terms if t.strip()]


LabelCheck = Callable[[dict[str, str]], bool]


def _in(key: str, values: set[str], negate: bool) -> LabelCheck:
    return lambda labels: (labels.get(key) in values) != negate


def _exists(key: str, negate: bool) -> LabelCheck:
    return lambda labels: (key in labels) != negate


def _equals(key: str, value: str, negate: bool) -> LabelCheck:
    return lambda labels: (labels.get(key) == value) != negate


def label_selector(text: str) -> Predicate:
    """Compile a label selector (``a=b,c!=d,e in (x,y),!f,g``); 400 if it does not parse."""
    checks: list[LabelCheck] = []
    for term in _split_terms(text):
        match = _SET_EXPR.match(term)
        if match:
            key, op, values = match.group(1), match.group(2), {v.strip() for v in match.group(3).split(",")}
            checks.append(_in(key, values, op == "notin"))
            continue
        match = _OP_EXPR.match(term)
        if not match:
            raise bad_request(
                f'unable to parse requirement: found "{term.strip()}", expected a label selector'
            )
        negate, key, op, value = match.groups()
        if op is None:
            checks.append(_exists(key, bool(negate)))
        else:
            checks.append(_equals(key, value, op == "!="))

    def matches(obj: dict[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(check(labels) for check in checks)

    return matches


def _field_value(obj: dict[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, dict):
            return ""
        node = node.get(part)
    if node is None:
        return ""
    return str(node).lower() if isinstance(node, bool) else str(node)


def field_selector(text: str) -> Predicate:
    """Compile a field selector (``metadata.name=x,status.phase!=Running``); 400 if it does not parse."""
    checks: list[tuple[str, bool, str]] = []
    for term in _split_terms(text):
        for op in ("!=", "==", "="):
            if op in term:
                path, _, value = term.partition(op)
                checks.append((path.strip(), op == "!=", value.strip()))
                break
        else:
            raise bad_request(f'invalid selector: "{text}"; expected field=value or field!=value')

    def matches(obj: dict[str, Any]) -> bool:
        return all((_field_value(obj, path) == value) != negate for path, negate, value in checks)

    return matches
