"""Fault injection and request counters, for tests and benchmarks of client behaviour.

A :class:`Fault` matches requests by verb, resource and namespace and answers them with
an error Status (optionally 429 with Retry-After) and/or after a delay, a set number
of times or until cleared. Counters record every request by verb and resource.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from flux_devkit.sandbox.status import ApiError, bad_request

MUTATING = {"create", "update", "patch", "delete", "deletecollection"}


@dataclass
class Fault:
    """Answer matching requests with ``code`` (0: serve normally) after ``latency_seconds``."""

    verb: str = "*"
    resource: str = "*"  # plural, optionally "/subresource"
    namespace: str = "*"
    name: str = "*"  # the object's name ("" for a list, a create or a collection)
    dry_run: bool | None = None  # None: both; False: only requests that persist; True: only dry-runs
    code: int = 0
    message: str = "injected fault"
    retry_after_seconds: int | None = None
    latency_seconds: float = 0.0
    times: int | None = None  # None: until cleared

    @classmethod
    def from_dict(cls, data: Any) -> Fault:
        if not isinstance(data, dict):
            raise bad_request("a fault must be a JSON object")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise bad_request(
                f"unknown fault fields {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}"
            )
        try:
            fault = cls(**data)
        except TypeError as err:
            raise bad_request(f"invalid fault: {err}") from None
        if fault.code and not 400 <= fault.code <= 599:
            raise bad_request(f"fault code {fault.code} must be an HTTP error status (400-599)")
        return fault

    def matches(
        self, verb: str, resource: str, namespace: str, name: str = "", dry_run: bool = False
    ) -> bool:
        return (
            self.verb in ("*", verb)
            and self.resource in ("*", resource)
            and self.namespace in ("*", namespace)
            and self.name in ("*", name)
            and self.dry_run in (None, dry_run)
        )


class Faults:
    """The active faults of a server; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]

    def apply(self, verb: str, resource: str, namespace: str, name: str = "", dry_run: bool = False) -> None:
        """Sleep and/or raise for the first fault matching this request."""
        with self._lock:
            fault = next(
                (f for f in self._faults if f.matches(verb, resource, namespace, name, dry_run)), None
            )
            if fault is None:
                return
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
        if fault.latency_seconds:
            time.sleep(fault.latency_seconds)
        if fault.code:
            headers = {}
            if fault.retry_after_seconds is not None:
                headers["Retry-After"] = str(fault.retry_after_seconds)
            details = {"retryAfterSeconds": fault.retry_after_seconds} if fault.retry_after_seconds else None
            raise ApiError(fault.code, fault.message, details=details, headers=headers)


class Counters:
    """Requests by ``verb resource`` and the mutating requests (in total and by resource)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: Counter[str] = Counter()
        self._mutating: Counter[str] = Counter()

    def count(self, verb: str, resource: str, *, dry_run: bool = False) -> None:
        """Dry-run writes are counted under their verb but, persisting nothing, are not mutating."""
        with self._lock:
            self._by_key[f"{verb} {resource}"] += 1
            if verb in MUTATING and not dry_run:
                self._mutating[resource] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self._by_key),
                "mutating": sum(self._mutating.values()),
                "mutatingByResource": dict(self._mutating),
            }

    def reset(self) -> None:
        with self._lock:
            self._by_key.clear()
            self._mutating.clear()
