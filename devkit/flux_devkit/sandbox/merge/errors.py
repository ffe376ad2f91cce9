"""Errors of the patch and apply semantics, shaped so the server can answer with a Status."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from airflow_flux_provider.errors import FluxError

P = ParamSpec("P")
R = TypeVar("R")


class MergeError(FluxError):
    """A patch or apply body the API server would refuse; ``code`` is the HTTP status to answer."""

    def __init__(self, message: str, *, code: int = 422) -> None:
        super().__init__(message)
        self.code = code


class ApplyConflict(MergeError):
    """Server-side apply would change fields another manager owns (HTTP 409).

    ``conflicts`` are (manager, field path) pairs; ``owners`` says how to print each manager
    (``"name" using apps/v1``, plus the subresource), as the API server's message does.
    """

    def __init__(self, conflicts: list[tuple[str, str]], owners: dict[str, str]) -> None:
        self.conflicts = conflicts
        if len(conflicts) == 1:
            manager, path = conflicts[0]
            message = f"Apply failed with 1 conflict: conflict with {owners[manager]}: {path}"
        else:
            lines: list[str] = []
            for manager in sorted({manager for manager, _ in conflicts}):
                lines.append(f"conflicts with {owners[manager]}:")
                lines += [f"- {path}" for who, path in conflicts if who == manager]
            message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
        super().__init__(message, code=409)


def object_ref(obj: Any) -> str:
    """``Kind/namespace/name`` of an object (``Kind/name`` when it has no namespace), for messages."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    kind = obj.get("kind") if isinstance(obj, dict) else None
    parts = [str(kind or "object"), str(meta.get("namespace") or ""), str(meta.get("name") or "")]
    return "/".join(part for part in parts if part)


def naming_the_object(
    func: Callable[Concatenate[dict[str, Any], P], R],
) -> Callable[Concatenate[dict[str, Any], P], R]:
    """Prefix the errors of a patch function with the object it was patching."""

    @functools.wraps(func)
    def wrapper(obj: dict[str, Any], *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(obj, *args, **kwargs)
        except MergeError as err:
            raise MergeError(f"{object_ref(obj)}: {err}", code=err.code) from None

    return wrapper
