"""Go-style durations (``1m``, ``1h30m``, ``500ms``, ``1.5h``) as ``datetime.timedelta``.

Flux and Flagger fields such as ``interval`` and ``timeout`` are Go ``time.Duration``
strings. ``parse_duration`` accepts Go's grammar (units ``ns``, ``us``/``µs``, ``ms``,
``s``, ``m``, ``h``, decimals, and the bare ``0``) but no sign, since no Flux field may be
negative. Sub-microsecond parts are rounded away (``timedelta`` resolution).

Spec fields use the narrower CRD patterns on top, as the API server would: ``Duration``
(Flux intervals), ``Timeout`` (Flux timeouts, no hours) and ``FlaggerDuration``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

from airflow_flux_provider.patterns import regex
from airflow_flux_provider.specs.errors import SpecError

_MICROSECONDS = {
    "ns": Decimal("0.001"),
    "us": Decimal(1),
    "µs": Decimal(1),
    "μs": Decimal(1),
    "ms": Decimal(1_000),
    "s": Decimal(1_000_000),
    "m": Decimal(60_000_000),
    "h": Decimal(3_600_000_000),
}
_PART = regex(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")  # RE2: linear on a hostile "1111…"
_NUMBER = regex(r"\d+(\.\d+)?")
_HINT = "expected a Go duration such as 30s, 5m, 1h30m, 1.5h or 500ms (units ms, s, m, h)"


class DurationError(SpecError):
    """A string that is not a Go duration; the message says what is expected."""


def parse_duration(text: str) -> timedelta:
    """Parse a Go duration string, e.g. ``parse_duration("1h30m") == timedelta(minutes=90)``."""
    if not isinstance(text, str):
        raise DurationError(f"got {type(text).__name__} {text!r}; {_HINT}, written as a string")
    value = text.strip()
    if value == "0":
        return timedelta(0)
    if value.startswith(("+", "-")):
        raise DurationError(f"invalid duration {text!r}: durations must not carry a sign; {_HINT}")
    pos, total = 0, Decimal(0)
    for match in _PART.finditer(value):
        if match.start() != pos:
            break
        try:
            total += Decimal(match.group(1)) * _MICROSECONDS[match.group(2)]
        except InvalidOperation:  # pragma: no cover - the regex only lets decimals through
            break
        pos = match.end()
    if not value or pos != len(value):
        reason = "missing unit" if _NUMBER.fullmatch(value) else "not a duration"
        raise DurationError(f"invalid duration {text!r} ({reason}); {_HINT}")
    return timedelta(microseconds=int(total.to_integral_value()))


_UNITS = ("h", "m", "s", "ms", "us")


def format_duration(delta: timedelta, *, largest: str = "h") -> str:
    """The shortest Go duration string for ``delta`` (``timedelta(minutes=90)`` -> ``1h30m``).

    ``largest="m"`` writes hours as minutes (``90m``), for fields that refuse ``h``.
    """
    micros = delta // timedelta(microseconds=1)
    if micros == 0:
        return "0s"
    sign, micros = ("-", -micros) if micros < 0 else ("", micros)
    parts = []
    for unit in _UNITS[_UNITS.index(largest) :]:
        size = int(_MICROSECONDS[unit])
        count, micros = divmod(micros, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)


def _validator(crd_pattern: str, project: str, rule: str) -> BeforeValidator:
    """Accept Go durations that the CRD's pattern for the field also accepts."""
    crd = re.compile(crd_pattern)

    def validate(value: Any) -> Any:
        if isinstance(value, timedelta):
            return value
        try:
            parsed = parse_duration(value)
        except DurationError as err:
            raise PydanticCustomError("flux_duration", str(err)) from None
        if not crd.match(value):
            raise PydanticCustomError("flux_duration", f"invalid duration {value!r} for {project}: {rule}")
        return parsed

    return BeforeValidator(validate)


def _serializer(largest: str) -> PlainSerializer:
    return PlainSerializer(lambda delta: format_duration(delta, largest=largest), return_type=str)


_INTERVAL = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
_TIMEOUT = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"
_FLAGGER = r"^[0-9]+(m|s)"

#: A JSON-schema pattern for a DAG Param that becomes a Flagger duration (``CANARY_INTERVAL``), so
#: the trigger form and the REST API refuse ``ten seconds`` before a run starts: the CRD's prefix
#: pattern, completed so that only Go durations match.
FLAGGER_DURATION_PATTERN = r"^[0-9]+(ms|s|m)([0-9]+(\.[0-9]+)?(ms|s|m|h))*$"

#: A Flux interval-like field (CRD pattern ``^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$``), as ``timedelta``.
Duration = Annotated[
    timedelta,
    _validator(_INTERVAL, "Flux", "use numbers with units ms, s, m or h, e.g. 10m or 1h30m"),
    _serializer("h"),
    WithJsonSchema({"type": "string", "pattern": _INTERVAL}),
]
#: A Flux timeout that the CRD limits to ``ms``, ``s`` and ``m`` (``1h`` must be written ``60m``).
Timeout = Annotated[
    timedelta,
    _validator(_TIMEOUT, "Flux", "timeouts take units ms, s or m only (write 60m, not 1h)"),
    _serializer("m"),
    WithJsonSchema({"type": "string", "pattern": _TIMEOUT}),
]
#: A Flagger duration: the CRD wants it to start with whole minutes or seconds (``1m``, ``30s``).
FlaggerDuration = Annotated[
    timedelta,
    _validator(_FLAGGER, "Flagger", "start with whole minutes or seconds, e.g. 1m, 90s or 1m30s (not 1h)"),
    _serializer("m"),
    WithJsonSchema({"type": "string", "pattern": _FLAGGER}),
]
