"""Drift ignore rules: a Kustomization's ``spec.ignore`` and a HelmRelease's ``driftDetection.ignore``.

A rule lists JSON pointers (RFC 6901, ``/spec/replicas``; ``""`` is the whole object) for
the objects its ``target`` selects (:class:`~airflow_flux_provider.kube.selectors.ObjectSelector`).
The fields they name are left out when live and desired objects are compared, as fluxcd/pkg
``ssa/jsondiff`` leaves them out. Also here: reading, removing and setting a value at a pointer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.kube.selectors import ObjectSelector
from airflow_flux_provider.specs.refs import Selector

#: A JSON pointer split into its unescaped reference tokens; ``None`` stands for the whole object.
Pointer = tuple[str, ...]


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Final = _Absent()


class IgnoreRuleSpec(Protocol):
    """What both Flux kinds' ignore rules hold."""

    @property
    def paths(self) -> list[str]: ...

    @property
    def target(self) -> Selector | None: ...


@dataclass(frozen=True)
class IgnoreRules:
    """Compiled rules: which pointers to leave out of the comparison of a given object."""

    rules: tuple[tuple[ObjectSelector, tuple[Pointer | None, ...]], ...] = ()

    @classmethod
    def compile(
        cls, rules: Sequence[IgnoreRuleSpec], *, obj: str, field: str, error: type[FluxError]
    ) -> IgnoreRules:
        """Each rule's target and pointers checked up front; errors name ``field[i]…`` and the fix."""
        return cls(
            tuple(
                (
                    ObjectSelector.compile(rule.target, obj=obj, field=f"{field}[{i}].target", error=error),
                    tuple(
                        parse_pointer(text, obj=obj, field=f"{field}[{i}].paths[{j}]", error=error)
                        for j, text in enumerate(rule.paths)
                    ),
                )
                for i, rule in enumerate(rules)
            )
        )

    def pointers(self, obj: dict[str, Any]) -> list[Pointer | None]:
        """The pointers of every rule whose target selects ``obj`` (``None``: the whole object)."""
        return [pointer for selector, pointers in self.rules if selector.matches(obj) for pointer in pointers]


def parse_pointer(text: str, *, obj: str, field: str, error: type[FluxError]) -> Pointer | None:
    if text == "":
        return None
    if not text.startswith("/"):
        raise error(
            f"{text!r} is not a JSON pointer; start it with '/', e.g. /spec/replicas ('' ignores the object)",
            obj=obj,
            field=field,
        )
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in text[1:].split("/"))


def escape(token: str) -> str:
    """One reference token as it is written inside a JSON pointer."""
    return token.replace("~", "~0").replace("/", "~1")


def pointer_text(pointer: Pointer) -> str:
    return "".join(f"/{escape(part)}" for part in pointer)


def _child(node: Any, part: str) -> Any:
    if isinstance(node, dict):
        return node.get(part, ABSENT)
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    return ABSENT


def lookup(document: Any, pointer: Pointer) -> Any:
    """The value at ``pointer``, or :data:`ABSENT`."""
    node = document
    for part in pointer:
        node = _child(node, part)
        if node is ABSENT:
            return ABSENT
    return node


def drop(document: Any, pointer: Pointer) -> None:
    """Remove the value at ``pointer`` when it is there (a JSON patch ``remove`` that allows missing)."""
    parent = lookup(document, pointer[:-1]) if pointer else ABSENT
    last = pointer[-1] if pointer else ""
    if isinstance(parent, dict):
        parent.pop(last, None)
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        del parent[int(last)]


def put(document: Any, pointer: Pointer, value: Any) -> bool:
    """Set the value at ``pointer``, making missing maps on the way; whether it could be set."""
    node = document
    for part in pointer[:-1]:
        child = _child(node, part)
        if child is ABSENT and isinstance(node, dict):
            child = node[part] = {}
        node = child
    last = pointer[-1] if pointer else ""
    if isinstance(node, dict) and pointer:
        node[last] = value
        return True
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = value
        return True
    return False
