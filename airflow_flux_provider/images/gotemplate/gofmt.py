"""Go's fmt for template values: ``%v`` printing, ``Sprint``/``Sprintln`` and ``Sprintf``.

Template values are Python values standing for Go ones: ``str`` (string), ``int``
(int), ``float`` (float64), ``bool``, ``None`` (nil), lists (slices), mappings (maps,
printed in Go's sorted key order) and dataclasses (structs; one that defines ``__str__``
is a ``fmt.Stringer``). Printing follows Go byte for byte where commit messages can tell,
including fmt's in-band errors such as ``%!d(string=x)`` and ``%!s(MISSING)``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any


class Missing:
    """Go's invalid ``reflect.Value``: what a map lookup of an absent key yields."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING = Missing()
_TOO_LARGE = 1_000_000  # fmt refuses widths and precisions beyond this (BADWIDTH/BADPREC)


def is_struct(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def is_stringer(value: Any) -> bool:
    return type(value).__str__ is not object.__str__ and not isinstance(value, str | int | float | bool)


def go_type(value: Any) -> str:
    """The Go type name fmt and template errors print."""
    named = getattr(value, "GO_TYPE", None)
    if isinstance(named, str):
        return named
    if value is None:
        return "<nil>"
    if isinstance(value, bytes):
        return "[]uint8"
    kind = go_kind(value)
    if kind in ("struct", "ptr", "invalid"):
        return type(value).__name__
    return {"map": "map[string]interface {}", "slice": "[]interface {}"}.get(kind, kind)


def go_kind(value: Any) -> str:
    """The ``reflect.Kind`` name of a template value (what sprig's ``kindOf`` prints)."""
    if value is None or value is MISSING:
        return "invalid"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, list | tuple):
        return "slice"
    return "struct" if is_struct(value) else "ptr"


def sorted_items(value: Mapping[Any, Any]) -> list[tuple[Any, Any]]:
    """Map entries in the order Go's fmt and text/template visit them (sorted keys)."""
    try:
        return sorted(value.items(), key=lambda kv: kv[0])
    except TypeError:
        return sorted(value.items(), key=lambda kv: (go_type(kv[0]), str(kv[0])))


def struct_fields(value: Any) -> list[tuple[str, Any]]:
    return [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr]


# --- floats ------------------------------------------------------------------------------


def _shortest(f: float) -> tuple[str, int]:
    """Shortest round-trip digits of abs(f) and the decimal exponent of the first digit."""
    _, digits, exponent = Decimal(repr(abs(f))).normalize().as_tuple()
    text = "".join(map(str, digits)) or "0"
    assert isinstance(exponent, int)
    return text, exponent + len(text) - 1


def _exp(e: int) -> str:
    return f"{'-' if e < 0 else '+'}{abs(e):02d}"


def format_float(f: float, verb: str = "g", prec: int = -1, *, sharp: bool = False) -> str:
    """``strconv.FormatFloat`` for verbs e, E, f, F, g, G (``prec`` -1: shortest)."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, f) < 0 else ""
    lower = verb.lower()
    if prec >= 0:
        text = f"{abs(f):{'#' if sharp else ''}.{prec}{lower}}"
    else:
        digits, e = _shortest(f)
        if lower == "g":
            lower = "e" if e < -4 or e >= 6 else "f"  # shortest %g (and %v): precision 6 decides
        if lower == "e":
            text = digits[0] + ("." + digits[1:] if len(digits) > 1 else "") + "e" + _exp(e)
        elif e >= len(digits) - 1:
            text = digits + "0" * (e - len(digits) + 1)
        elif e >= 0:
            text = digits[: e + 1] + "." + digits[e + 1 :]
        else:
            text = "0." + "0" * (-e - 1) + digits
    if "e" in text:
        mantissa, _, e_text = text.partition("e")
        text = mantissa + "e" + _exp(int(e_text))
    return sign + (text.upper() if verb in "EG" else text)


# --- %v ---------------------------------------------------------------------------------


def sprint_value(value: Any, *, plus: bool = False) -> str:
    """``fmt.Sprint(value)``: ``%v``."""
    if value is None:
        return "<nil>"
    if value is MISSING:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return "[" + " ".join(str(b) for b in value) + "]"
    if is_stringer(value) and not plus:
        return str(value)
    if isinstance(value, Mapping):
        items = (f"{sprint_value(k, plus=plus)}:{sprint_value(v, plus=plus)}" for k, v in sorted_items(value))
        return "map[" + " ".join(items) + "]"
    if isinstance(value, Sequence):
        return "[" + " ".join(sprint_value(v, plus=plus) for v in value) + "]"
    if is_struct(value):
        parts = (f"{name}:" * plus + sprint_value(v, plus=plus) for name, v in struct_fields(value))
        return "{" + " ".join(parts) + "}"
    return str(value)


def sprint(*args: Any) -> str:
    """``fmt.Sprint``: a space between operands when neither is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(sprint_value(arg))
    return "".join(out)


def sprintln(*args: Any) -> str:
    """``fmt.Sprintln``: spaces between all operands, and a newline."""
    return " ".join(sprint_value(a) for a in args) + "\n"


# --- Sprintf ------------------------------------------------------------------------------

_SPEC = re.compile(r"%([-+# 0]*)(?:\[(\d+)\])?(\*|\d+)?(?:\.(\*|\d*))?(?:\[(\d+)\])?(.?)", re.DOTALL)
_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_quote(text: str, *, ascii_only: bool = False) -> str:
    """``strconv.Quote`` (``QuoteToASCII`` with ``ascii_only``)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable() and (code < 128 or not ascii_only):
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out) + '"'


@dataclasses.dataclass
class _Flags:
    minus: bool = False
    plus: bool = False
    sharp: bool = False
    space: bool = False
    zero: bool = False
    width: int | None = None
    prec: int | None = None


def _bad(verb: str, value: Any) -> str:
    if value is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type(value)}={sprint_value(value)})"


def _pad(text: str, flags: _Flags, *, numeric: bool = False) -> str:
    width = flags.width or 0
    if len(text) >= width:
        return text
    if flags.minus:
        return text + " " * (width - len(text))
    if flags.zero:
        sign = text[0] if numeric and text[:1] in "+- " else ""
        return sign + "0" * (width - len(text)) + text[len(sign) :]
    return " " * (width - len(text)) + text


def _signed(text: str, negative: bool, flags: _Flags) -> str:
    return ("-" if negative else "+" if flags.plus else " " if flags.space else "") + text


def _integer(value: int, verb: str, flags: _Flags) -> str:
    if verb == "c":
        return _pad(chr(value) if 0 <= value <= 0x10FFFF else "\ufffd", flags)
    if verb == "q":
        return _pad("'" + go_quote(chr(value))[1:-1].replace("'", "\\'").replace('\\"', '"') + "'", flags)
    if verb == "U":
        text = f"U+{value:04X}"
        return _pad(text + (f" '{chr(value)}'" if flags.sharp else ""), flags)
    base = {"d": "d", "v": "d", "b": "b", "o": "o", "O": "o", "x": "x", "X": "X"}[verb]
    digits = format(abs(value), base)
    if flags.prec is not None:
        digits = digits.rjust(flags.prec, "0") if flags.prec or value else ""
    prefix = {"O": "0o"}.get(verb, "")
    if flags.sharp:
        prefix = {"b": "0b", "o": "0" if not digits.startswith("0") else "", "x": "0x", "X": "0X"}.get(
            verb, prefix
        )
    zero_ok = flags.prec is None
    text = _signed(prefix + digits, value < 0, flags)
    return _pad(text, _Flags(flags.minus, zero=flags.zero and zero_ok, width=flags.width), numeric=True)


def _float(value: float, verb: str, flags: _Flags) -> str:
    go_verb = "g" if verb == "v" else verb
    text = format_float(value, go_verb, -1 if flags.prec is None and go_verb in "gG" else (
        6 if flags.prec is None else flags.prec), sharp=flags.sharp)  # fmt: skip
    negative = text.startswith("-")
    text = _signed(text.lstrip("-"), negative, flags)
    if text.lstrip("+- ") in ("Inf", "NaN"):
        text = text if text.startswith(("+", "-", " ")) or not flags.plus else "+" + text
        return _pad(text, _Flags(flags.minus, width=flags.width))
    return _pad(text, flags, numeric=True)


def _string(value: str, verb: str, flags: _Flags) -> str:
    if flags.prec is not None and verb in "sv":
        value = value[: flags.prec]
    if verb in "sv":
        return _pad(value, flags)
    if verb == "q":
        if flags.sharp and "`" not in value and value.isprintable():
            return _pad("`" + value + "`", flags)
        return _pad(go_quote(value, ascii_only=flags.plus), flags)
    data = value.encode()
    if flags.prec is not None:
        data = data[: flags.prec]
    text = data.hex()
    if flags.space:
        text = " ".join(("0x" if flags.sharp else "") + f"{b:02x}" for b in data)
    elif flags.sharp and data:
        text = "0x" + text
    return _pad(text.upper() if verb == "X" else text, flags)


def format_one(value: Any, verb: str, flags: _Flags) -> str:
    """One verb applied to one argument, as fmt's printArg does."""
    if verb == "T":
        return _pad(go_type(value), flags)
    if value is None:
        return _pad("<nil>", flags) if verb == "v" else _bad(verb, value)
    if isinstance(value, bool):
        return _pad("true" if value else "false", flags) if verb in "tv" else _bad(verb, value)
    if isinstance(value, int):
        return _integer(value, verb, flags) if verb in "bcdoOqxXUv" else _bad(verb, value)
    if isinstance(value, float):
        return _float(value, verb, flags) if verb in "eEfFgGv" else _bad(verb, value)
    if isinstance(value, str):
        return _string(value, verb, flags) if verb in "svqxX" else _bad(verb, value)
    if is_stringer(value) and verb in "svqxX":
        return _string(str(value), verb, flags)
    if verb == "v" and flags.sharp:
        return _pad(sprint_value(value, plus=True), flags)
    if isinstance(value, Mapping):
        inner = (f"{format_one(k, verb, flags)}:{format_one(v, verb, flags)}" for k, v in sorted_items(value))
        return "map[" + " ".join(inner) + "]"
    if isinstance(value, Sequence):
        return "[" + " ".join(format_one(v, verb, flags) for v in value) + "]"
    if is_struct(value):
        fields = struct_fields(value)
        parts = (f"{name}:" * flags.plus + format_one(v, verb, flags) for name, v in fields)
        return "{" + " ".join(parts) + "}"
    return _pad(str(value), flags) if verb in "sv" else _bad(verb, value)


def _parsenum(digits: str) -> int | None:
    """fmt's parsenum: None once the number grows past a million before another digit."""
    num = 0
    for d in digits:
        if num > _TOO_LARGE:
            return None
        num = num * 10 + int(d)
    return num


def _star(args: tuple[Any, ...], argn: int, out: list[str], bad: str) -> tuple[int | None, int]:
    """A ``*`` width or precision taken from the next argument (an int up to a million)."""
    value = args[argn] if argn < len(args) else None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _TOO_LARGE:
        return value, argn + 1
    out.append(bad)
    return None, argn + 1


def sprintf(fmt: str, *args: Any) -> str:
    """``fmt.Sprintf`` for the verbs templates use, with Go's in-band error strings."""
    out: list[str] = []
    pos, argn, reordered = 0, 0, False
    while True:
        start = fmt.find("%", pos)
        if start < 0:
            out.append(fmt[pos:])
            break
        out.append(fmt[pos:start])
        m = _SPEC.match(fmt, start)
        assert m is not None
        pos = m.end()
        flag_text, index1, width, prec, index2, verb = m.groups()
        flags = _Flags(*(c in flag_text for c in "-+# 0"))
        flags.zero = flags.zero and not flags.minus
        bad_index = False
        if index1:
            argn, reordered = int(index1) - 1, True
            bad_index = not 0 <= argn < len(args)
        if width == "*":
            flags.width, argn = _star(args, argn, out, "%!(BADWIDTH)")
            if flags.width is not None and flags.width < 0:
                flags.minus, flags.width = True, -flags.width
        elif width:
            flags.width = _parsenum(width)
            if flags.width is None:  # fmt gives up on the rest of the format
                out.append("%!(NOVERB)")
                break
        if prec is not None:
            if prec == "*":
                flags.prec, argn = _star(args, argn, out, "%!(BADPREC)")
                if flags.prec is not None and flags.prec < 0:
                    flags.prec = None
            else:
                flags.prec = _parsenum(prec or "0")
                if flags.prec is None:
                    out.append("%!(NOVERB)")
                    break
        if index2:
            argn, reordered = int(index2) - 1, True
            bad_index = not 0 <= argn < len(args)
        if not verb:
            out.append("%!(NOVERB)")
            break
        if verb == "%":
            out.append("%")
            continue
        if bad_index:
            out.append(f"%!{verb}(BADINDEX)")
            continue
        if argn >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(format_one(args[argn], verb, flags))
        argn += 1
    if not reordered and argn < len(args):
        extra = ", ".join(
            f"{go_type(a)}={sprint_value(a)}" if a is not None else "<nil>" for a in args[argn:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
