"""Which objects a Flux ``target`` selects, as fluxcd/pkg's ``SelectorRegex`` decides it.

``group``, ``version``, ``kind``, ``name`` and ``namespace`` are Go regular expressions
(RE2, through :mod:`airflow_flux_provider.patterns`) anchored at both ends;
``labelSelector`` and ``annotationSelector`` use Kubernetes' label selector syntax
(``app=web,tier in (a,b),!legacy,release>3``), checked as ``labels.Parse`` checks it.
An unset field matches everything.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.kube.cluster import ObjectKey
from airflow_flux_provider.patterns import regex
from airflow_flux_provider.specs.refs import Selector

_SPECIAL = "!=<>(),"
_NAME = regex(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN = regex(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_INT64 = regex(r"[+-]?[0-9]{1,19}")
_MAX_SELECTOR = 4096


class Operator(StrEnum):
    EXISTS = "exists"
    NOT_EXISTS = "!"
    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    GREATER = ">"
    LESS = "<"


_OPERATORS = {
    "=": Operator.EQUALS, "==": Operator.EQUALS, "!=": Operator.NOT_EQUALS, "in": Operator.IN,
    "notin": Operator.NOT_IN, ">": Operator.GREATER, "<": Operator.LESS,
}  # fmt: skip


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        match self.operator:
            case Operator.EXISTS:
                return present
            case Operator.NOT_EXISTS:
                return not present
            case Operator.EQUALS | Operator.IN:
                return present and value in self.values
            case Operator.NOT_EQUALS | Operator.NOT_IN:
                return not present or value not in self.values
        if not present or not _INT64.fullmatch(value):
            return False
        bound = int(self.values[0])
        return int(value) > bound if self.operator is Operator.GREATER else int(value) < bound


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label (or annotation) selector: every requirement must hold."""

    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    @classmethod
    def parse(cls, text: str, *, obj: str | None, field: str, error: type[FluxError]) -> LabelSelector:
        """``text`` in Kubernetes' selector syntax; a malformed one raises ``error`` naming ``field``."""
        try:
            return cls(tuple(_Parser(text).requirements()))
        except ValueError as err:
            raise error(
                f"{err} in selector {text[:200]!r}; write it as key=value, key!=value, key in (a,b), "
                "key notin (a,b), key or !key, separated by commas",
                obj=obj,
                field=field,
            ) from None


class _Parser:
    """Kubernetes' ``labels.Parse``: a lexer of identifiers and operators, then one requirement per term."""

    def __init__(self, text: str) -> None:
        if len(text) > _MAX_SELECTOR:
            raise ValueError(f"the selector is longer than {_MAX_SELECTOR} characters")
        self.tokens = list(_tokens(text))
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str | None:
        token = self.peek()
        self.position += 1
        return token

    def requirements(self) -> Iterator[Requirement]:
        while True:
            yield self.requirement()
            token = self.take()
            if token is None:
                return
            if token != ",":
                raise ValueError(f"found '{token}', expected ','")

    def requirement(self) -> Requirement:
        negated = self.peek() == "!"
        if negated:
            self.take()
        key = self.identifier("a key")
        _check_key(key)
        if negated:
            return Requirement(key, Operator.NOT_EXISTS)
        token = self.peek()
        if token in (None, ","):
            return Requirement(key, Operator.EXISTS)
        self.take()
        if token not in _OPERATORS:
            raise ValueError(f"found '{token}', expected one of =, ==, !=, in, notin, >, <")
        operator = _OPERATORS[token]
        values = self.value_set() if operator in (Operator.IN, Operator.NOT_IN) else (self.exact_value(),)
        for value in values:
            _check_value(value)
        if operator in (Operator.GREATER, Operator.LESS) and not _INT64.fullmatch(values[0]):
            raise ValueError(f"for '{operator}', the value must be an integer, not '{values[0]}'")
        return Requirement(key, operator, values)

    def identifier(self, what: str) -> str:
        token = self.take()
        if token is None or (token in _SPECIAL or token in ("==", "!=")):
            raise ValueError(f"found '{token or 'end of string'}', expected {what}")
        return token

    def exact_value(self) -> str:
        if self.peek() in (None, ","):
            return ""
        return self.identifier("a value")

    def value_set(self) -> tuple[str, ...]:
        """``(a,b)``; as in Kubernetes an empty slot (``()``, ``(a,)``) is the empty value."""
        if self.take() != "(":
            raise ValueError("expected '(' before the values of 'in' or 'notin'")
        values: list[str] = []
        slot_open = True  # at the start or after a comma
        while (token := self.take()) != ")":
            if token is None:
                raise ValueError("found end of string, expected ')'")
            if token == ",":
                values += [""] if slot_open else []
                slot_open = True
            elif token in _SPECIAL or token in ("==", "!=") or not slot_open:
                wanted = "a value" if slot_open else "',' or ')'"
                raise ValueError(f"found '{token}', expected {wanted}")
            else:
                values.append(token)
                slot_open = False
        return tuple(values + ([""] if slot_open else []))


def _tokens(text: str) -> Iterator[str]:
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c in _SPECIAL:
            pair = text[i : i + 2]
            if pair in ("!=", "=="):
                yield pair
                i += 2
            else:
                yield c
                i += 1
        else:
            start = i
            while i < len(text) and not text[i].isspace() and text[i] not in _SPECIAL:
                i += 1
            yield text[start:i]


def _check_key(key: str) -> None:
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        raise ValueError(f"invalid key '{key}': the prefix must be a DNS subdomain")
    if len(name) > 63 or not _NAME.fullmatch(name):
        raise ValueError(
            f"invalid key '{key}': a name of at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )


def _check_value(value: str) -> None:
    if value and (len(value) > 63 or not _NAME.fullmatch(value)):
        raise ValueError(
            f"invalid value '{value}': at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )


@dataclass(frozen=True)
class ObjectSelector:
    """A compiled ``target``: group, version, kind, name, namespace, labels and annotations."""

    patterns: tuple[tuple[str, Any], ...]  # (part of the object's identity, compiled pattern)
    labels: LabelSelector | None = None
    annotations: LabelSelector | None = None

    @classmethod
    def compile(
        cls, selector: Selector | None, *, obj: str | None, field: str, error: type[FluxError]
    ) -> ObjectSelector:
        if selector is None:
            return cls(())
        patterns = tuple(
            (part, regex(pattern, obj=obj, field=f"{field}.{part}", error=error, what=part))
            for part in ("group", "version", "kind", "name", "namespace")
            if (pattern := getattr(selector, part))
        )
        labels, annotations = (
            LabelSelector.parse(text, obj=obj, field=f"{field}.{name}", error=error) if text else None
            for name, text in (
                ("labelSelector", selector.label_selector),
                ("annotationSelector", selector.annotation_selector),
            )
        )
        return cls(patterns, labels, annotations)

    def matches(self, obj: dict[str, Any]) -> bool:
        key = ObjectKey.of(obj)
        parts = {
            "group": key.group,
            "version": key.api_version.rpartition("/")[2],
            "kind": key.kind,
            "name": key.name,
            "namespace": key.namespace,
        }
        if not all(pattern.fullmatch(parts[part]) for part, pattern in self.patterns):
            return False
        meta = obj.get("metadata") or {}
        return (self.labels is None or self.labels.matches(meta.get("labels") or {})) and (
            self.annotations is None or self.annotations.matches(meta.get("annotations") or {})
        )
