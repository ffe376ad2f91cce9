"""Errors of the patch and apply semantics, shaped so the server can answer with a Status."""

from __future__ import annotations

from airflow_flux_provider.errors import FluxError


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
