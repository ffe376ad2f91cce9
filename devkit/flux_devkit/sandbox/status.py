"""API errors and the ``Status`` objects the real API server answers them with.

Every refusal in the sandbox is an :class:`ApiError`; the HTTP layer turns it into a
``metav1.Status`` body with the same code, reason, message and details a client gets
from Kubernetes, so client-side error handling is exercised for real.
"""

from __future__ import annotations

from typing import Any

from airflow_flux_provider.errors import FluxError

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class SandboxError(FluxError):
    """The sandbox could not start, or was configured with something it cannot use."""


class ApiError(Exception):
    """A request refused with a Kubernetes ``Status``; ``headers`` are extra response headers."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = REASONS.get(code, "Unknown") if reason is None else reason  # "": none
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "code": self.code,
        }
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(name: str, group: str, plural: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": plural}
    if group:
        details["group"] = group
    return details


def not_found(group: str, plural: str, name: str) -> ApiError:
    resource = f"{plural}.{group}" if group else plural
    return ApiError(404, f'{resource} "{name}" not found', details=_details(name, group, plural))


def already_exists(group: str, plural: str, name: str) -> ApiError:
    resource = f"{plural}.{group}" if group else plural
    return ApiError(
        409,
        f'{resource} "{name}" already exists',
        reason="AlreadyExists",
        details=_details(name, group, plural),
    )


def conflict(group: str, plural: str, name: str, why: str) -> ApiError:
    resource = f"{plural}.{group}" if group else plural
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {resource} "{name}": {why}',
        details=_details(name, group, plural),
    )


def invalid(qualified_kind: str, group: str, kind: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 with one cause per ``(field, message)``, worded like the API server's field errors."""
    joined = ", ".join(f"{fld}: {msg}" for fld, msg in causes)
    text = f"[{joined}]" if len(causes) > 1 else joined
    details: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "causes": [{"reason": "FieldValueInvalid", "message": msg, "field": fld} for fld, msg in causes],
    }
    if group:
        details["group"] = group
    return ApiError(422, f'{qualified_kind} "{name}" is invalid: {text}', details=details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def success(name: str, group: str, plural: str, uid: str) -> dict[str, Any]:
    details = _details(name, group, plural)
    details["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
