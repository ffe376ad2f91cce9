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
    """Server-side apply would change fields another manager owns (HTTP 409)."""

    def __init__(self, conflicts: list[tuple[str, str]], api_version: str) -> None:
        self.conflicts = conflicts
        lines = [f'conflict with "{manager}" using {api_version}: {path}' for manager, path in conflicts]
        noun = "conflict" if len(conflicts) == 1 else "conflicts"
        if len(lines) == 1:
            message = f"Apply failed with 1 conflict: {lines[0]}"
        else:
            message = f"Apply failed with {len(lines)} {noun}: " + "\n".join(lines)
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
