"""The root of every exception this provider raises on purpose.

Each capability subclasses :class:`FluxError` (``SpecError``, ``SourceError``,
``SandboxError`` …). Messages name the object (``Kind/namespace/name``), the field and
the fix, and never carry a secret: every URL in a message loses its userinfo, query values
and fragment (:func:`~airflow_flux_provider.credentials.redact_urls`), whoever raised it.
"""

from __future__ import annotations

from airflow_flux_provider.credentials import redact_urls


class FluxError(Exception):
    """An error a user can act on; its message is meant to be read in the Airflow task log."""

    def __init__(self, message: str, *, obj: str | None = None, field: str | None = None) -> None:
        self.obj = obj
        self.field = field
        self.message = redact_urls(message)
        super().__init__(redact_urls(self._format()))

    def _format(self) -> str:
        where = self.obj or ""
        if self.field:
            where = f"{where} field {self.field}" if where else f"field {self.field}"
        return f"{where}: {self.message}" if where else self.message


def object_ref(kind: str, name: str, namespace: str | None = None) -> str:
    """Return the ``Kind/namespace/name`` form used in every error and event."""
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"
