"""``resource.Quantity`` as the API server stores it: parsed as Go parses it, written canonically.

A real server answers ``cpu: 0.5`` with ``500m``, ``memory: 1024Mi`` with ``1Gi`` and
``1000`` with ``1k``; clients that compare what they sent with what they read back (drift
detection, ``kubectl diff``) must see the same here. The rules follow
``k8s.io/apimachinery/pkg/api/resource``: values are rounded up to the nanounit and capped
at the int64 maximum; binary suffixes stay binary while the value is a whole number of at
least 1024; an input already in canonical form is kept as written.
"""

from __future__ import annotations

import decimal
import re
from enum import Enum

PATTERN = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
FORMAT_ERROR = f"quantities must match the regular expression '{PATTERN}'"

_SYNTAX = re.compile(r"([+-]?)0*([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*[+-]?[0-9]*)")
_DECIMAL_SI = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SI = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_SI_SUFFIX = {exponent: suffix for suffix, exponent in _DECIMAL_SI.items()}
_BINARY_SUFFIX = {exponent // 10: suffix for suffix, exponent in _BINARY_SI.items()}
_EXPONENT = re.compile(r"[eE]([+-]?[0-9]+)")
_MAX = (1 << 63) - 1  # resource.maxAllowed: larger values are capped
_NANO = 9


class Format(Enum):
    DECIMAL_SI = "DecimalSI"
    BINARY_SI = "BinarySI"
    DECIMAL_EXPONENT = "DecimalExponent"


class QuantityError(ValueError):
    """Not a quantity; the message is the API server's."""


def _suffix(text: str) -> tuple[int, int, Format]:
    """``(base, exponent, format)`` of a suffix, as Go's ``quantitySuffixer.interpret``."""
    if text in _DECIMAL_SI:
        return 10, _DECIMAL_SI[text], Format.DECIMAL_SI
    if text in _BINARY_SI:
        return 2, _BINARY_SI[text], Format.BINARY_SI
    if match := _EXPONENT.fullmatch(text):
        exponent = int(match[1])
        if abs(exponent) < 1 << 31:
            return 10, exponent, Format.DECIMAL_EXPONENT
    raise QuantityError("unable to parse quantity's suffix")


def _parse(value: str | int | float) -> tuple[str, str, str, str, int, int, Format]:
    """``(text, sign, whole digits, fraction digits, base, exponent, format)`` of a quantity."""
    text = value if isinstance(value, str) else repr(value)
    match = _SYNTAX.fullmatch(text)
    if not text or match is None:
        raise QuantityError(FORMAT_ERROR)
    base, exponent, fmt = _suffix(match[4])
    return text, match[1], match[2] or "0", match[3] or "", base, exponent, fmt


def nanos(value: str | int | float) -> int:
    """The quantity in nanounits (``500m`` is 500,000,000); :class:`QuantityError` when it is not one."""
    _, sign, num, denom, base, exponent, _ = _parse(value)
    return _nanos(sign, num, denom, base, exponent)


def canonical(value: str | int | float) -> str:
    """The string the API server stores for ``value``; :class:`QuantityError` when it is not one."""
    text, sign, num, denom, base, exponent, fmt = _parse(value)
    kept = _as_written(text, num, denom, exponent, fmt)
    if kept is not None:
        return kept
    amount = _nanos(sign, num, denom, base, exponent)
    if fmt is Format.BINARY_SI and 0 < abs(amount) < 10**_NANO:
        fmt = Format.DECIMAL_SI
    return _format(amount, fmt)


def _as_written(text: str, num: str, denom: str, exponent: int, fmt: Format) -> str | None:
    """Go keeps the input string when its int64 fast path finds it canonical already."""
    if fmt is Format.BINARY_SI:
        if denom or 15 - len(num) - int(exponent * 3 / 10) - 1 < 0:
            return None
        value = int(num)
        fits = value << exponent <= _MAX
        return text if fits and exponent % 10 == 0 and value & 0x07 else None
    shifted = num + denom
    if 18 - len(shifted) < 0 or exponent - len(denom) < -_NANO:
        return None
    kept = (exponent - len(denom)) % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"
    return text if kept else None


def _nanos(sign: str, num: str, denom: str, base: int, exponent: int) -> int:
    """The value in nanounits, rounded away from zero and capped at the int64 maximum."""
    with decimal.localcontext() as context:
        context.prec = len(num) + len(denom) + 40  # exact: no digit of the input is rounded away
        context.Emax, context.Emin = decimal.MAX_EMAX, decimal.MIN_EMIN
        amount = decimal.Decimal(f"{num}.{denom}0")
        amount = amount * (1 << exponent) if base == 2 else amount.scaleb(exponent)
        amount = min(amount, decimal.Decimal(_MAX))
        nanos = int(amount.scaleb(_NANO).to_integral_value(rounding=decimal.ROUND_UP))
    return -nanos if sign == "-" else nanos


def _format(nanos: int, fmt: Format) -> str:
    """Go's ``CanonicalizeBytes``."""
    if nanos == 0:
        return "0"
    if fmt is Format.BINARY_SI:
        whole, fraction = divmod(abs(nanos), 10**_NANO)
        if whole < 1024 or fraction:
            fmt = Format.DECIMAL_SI
        else:
            amount, power = (-whole if nanos < 0 else whole), 0
            while amount % 1024 == 0 and power < 6:
                amount, power = amount // 1024, power + 1
            return f"{amount}{_BINARY_SUFFIX[power] if power else ''}"
    amount, exponent = nanos, -_NANO
    while amount % 10 == 0:
        amount, exponent = amount // 10, exponent + 1
    while exponent % 3:
        amount, exponent = amount * 10, exponent - 1
    if fmt is Format.DECIMAL_EXPONENT:
        return f"{amount}e{exponent}" if exponent else str(amount)
    return f"{amount}{_SI_SUFFIX[exponent]}"
