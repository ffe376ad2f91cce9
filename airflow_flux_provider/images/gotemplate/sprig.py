"""Sprig's hermetic text function map (Masterminds/sprig v3.3 ``HermeticTxtFuncMap``).

The functions image-automation-controller gives commit templates, each with sprig's Go
behaviour: ``cast`` conversions (``"0x10"`` is 16 to ``int``), byte-wise ``trunc`` and
``substr``, maps printed and ranged in sorted key order, ``must*`` variants that fail
where the plain ones would panic (both end the template with an error naming the
function). Sprig's non-hermetic functions (dates from the clock, random values, the
environment, DNS) are absent, as in Flux. The functions that make keys, certificates,
password hashes or ciphertext, or that read the clock or a random source although sprig
lists them as hermetic (``genCA``, ``bcrypt``, ``encryptAES``, ``randInt``, ``shuffle``,
``ago``, ``toDate``...), are refused with an error that says so: a commit message has no
use for them, and their output could not be reproduced anyway.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import math
import posixpath
import re
import urllib.parse
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, DivisionByZero, InvalidOperation
from typing import Any

from airflow_flux_provider.images.gotemplate import gofmt
from airflow_flux_provider.images.gotemplate.execute import FuncError, GoFunc, truth
from airflow_flux_provider.images.policy import go_expand, go_parse_float
from airflow_flux_provider.patterns import PatternError, regex
from airflow_flux_provider.semver import Constraint, SemverError, Version

_MAX_ITEMS = 100_000  # longest list or string a function may build


def _limit(n: int) -> int:
    if n > _MAX_ITEMS:
        raise FuncError(f"result of {n} items is too large for a commit message (limit {_MAX_ITEMS})")
    return n


# --- conversions (sprig's strval/strslice, spf13/cast) -----------------------------------


def strval(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    return gofmt.sprint_value(v)


def strslice(v: Any) -> list[str]:
    if isinstance(v, list | tuple):
        return [strval(s) for s in v if s is not None]
    return [] if v is None else [strval(v)]


def _trim_zero_decimal(s: str) -> str:
    head, dot, tail = s.partition(".")
    return head if dot and tail and set(tail) == {"0"} else s


def to_int64(v: Any) -> int:
    """``cast.ToInt64``: numbers truncate, strings parse with Go's base prefixes, else 0."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v) if math.isfinite(v) else 0
    if isinstance(v, str):
        text = _trim_zero_decimal(v)
        try:
            digits = text.lstrip("+-")
            octal = len(digits) > 1 and digits[0] == "0" and digits[1].isdigit()
            return int(text.replace("_", ""), 8 if octal else 0)
        except ValueError:
            return 0
    return 0


def to_float64(v: Any) -> float:
    """``cast.ToFloat64``."""
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        return go_parse_float(v) or 0.0
    return 0.0


def _seq(v: Any, what: str) -> list[Any]:
    if isinstance(v, list | tuple):
        return list(v)
    raise FuncError(f"Cannot {what} on type {gofmt.go_kind(v)}")


def _empty(v: Any) -> bool:
    return not truth(v)


# --- strings ------------------------------------------------------------------------------


def _upper(s: str) -> str:
    return "".join(c.upper() if len(c.upper()) == 1 else c for c in s)


def _lower(s: str) -> str:
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in s)


def _title(s: str) -> str:
    """``strings.Title``: upper-case each letter that follows a separator."""
    out, prev = [], " "
    for c in s:
        separator = not (prev.isalnum() or prev == "_") and (prev.isspace() or ord(prev) < 128)
        out.append(c.upper() if separator and len(c.upper()) == 1 else c)
        prev = c
    return "".join(out)


def _untitle(s: str) -> str:
    return s[:1].lower() + s[1:] if s else s


def _bytes_slice(s: str, start: int, end: int | None) -> str:
    return s.encode()[start:end].decode(errors="replace")


def _trunc(c: int, s: str) -> str:
    n = len(s.encode())
    if c < 0 and n + c > 0:
        return _bytes_slice(s, n + c, None)
    if c >= 0 and n > c:
        return _bytes_slice(s, 0, c)
    return s


def _substr(start: int, end: int, s: str) -> str:
    n = len(s.encode())
    if start < 0:
        return _bytes_slice(s, 0, _index_check(end, n))
    if end < 0 or end > n:
        return _bytes_slice(s, _index_check(start, n), None)
    if start > end:
        raise FuncError(f"slice bounds out of range [{start}:{end}]")
    return _bytes_slice(s, start, end)


def _index_check(i: int, n: int) -> int:
    if not 0 <= i <= n:
        raise FuncError(f"slice bounds out of range [:{i}] with length {n}")
    return i


def _abbrev(width: int, s: str) -> str:
    if width < 4 or len(s) <= width:
        return s
    return s[: width - 3] + "..."


def _abbrevboth(left: int, right: int, s: str) -> str:
    if right < 4 or (left > 0 and right < 7) or len(s) <= right:
        return s
    offset = min(left, len(s))
    if len(s) - offset < right - 3:
        offset = len(s) - (right - 3)
    if offset <= 4:
        return s[: right - 3] + "..."
    if offset + right - 3 < len(s):
        return "..." + _abbrev(right - 3, s[offset:])
    return "..." + s[len(s) - (right - 3) :]


def _initials(s: str) -> str:
    return "".join(word[0] for word in s.split())


def _wrap(width: int, s: str, newline: str = "\n", long_words: bool = False) -> str:
    """goutils.WrapCustom (Apache commons WordUtils.wrap)."""
    if not s:
        return ""
    width = max(width, 1)
    out, offset = [], 0
    while len(s) - offset > width:
        if s[offset] == " ":
            offset += 1
            continue
        space = s.rfind(" ", offset, width + offset + 1)
        if space >= offset:
            out += [s[offset:space], newline]
            offset = space + 1
        elif long_words:
            out += [s[offset : offset + width], newline]
            offset += width
        else:
            space = s.find(" ", offset + width)
            if space < 0:
                out.append(s[offset:])
                offset = len(s)
            else:
                out += [s[offset:space], newline]
                offset = space + 1
    out.append(s[offset:])
    return "".join(out)


def _swapcase(s: str) -> str:
    return "".join(c.lower() if c.isupper() or c.istitle() else c.upper() if c.islower() else c for c in s)


def _words(s: str) -> list[str]:
    """Words of an identifier for the case converters: split at separators, at a lower-to-upper
    or letter-to-digit change, and before the last capital of a run (``HTTPServer``: HTTP,
    Server). xstrings keeps some digit runs with their letters (``http2xx``); this does not."""
    words: list[str] = []
    current = ""
    for i, c in enumerate(s):
        if not c.isalnum():
            words, current = ([*words, current] if current else words), ""
            continue
        if current:
            p = current[-1]
            split = (p.islower() and c.isupper()) or (p.isdigit() != c.isdigit())
            split = split or (p.isupper() and c.isupper() and s[i + 1 : i + 2].islower())
            if split:
                words, current = [*words, current], ""
        current += c
    return [*words, current] if current else words


def _quote(*args: Any) -> str:
    return " ".join(gofmt.go_quote(strval(a)) for a in args if a is not None)


def _squote(*args: Any) -> str:
    return " ".join(f"'{gofmt.sprint_value(a)}'" for a in args if a is not None)


def _cat(*args: Any) -> str:
    return gofmt.sprintf(
        " ".join(["%v"] * len([a for a in args if a is not None])), *[a for a in args if a is not None]
    )


def _indent(n: int, s: str) -> str:
    pad = " " * _limit(n)
    return pad + s.replace("\n", "\n" + pad)


def _repeat(count: int, s: str) -> str:
    if count < 0:
        raise FuncError("strings: negative Repeat count")
    _limit(count * len(s))
    return s * count


def _split(sep: str, s: str, n: int = -1) -> dict[str, str]:
    parts = _go_split(s, sep, n)
    return {f"_{i}": p for i, p in enumerate(parts)}


def _go_split(s: str, sep: str, n: int = -1) -> list[str]:
    """``strings.SplitN`` (an empty separator splits into characters)."""
    if n == 0:
        return []
    if sep == "":
        chars = list(s)
        return chars if n < 0 or n >= len(chars) else [*chars[: n - 1], "".join(chars[n - 1 :])]
    return s.split(sep) if n < 0 else s.split(sep, n - 1)


def _b64dec(s: str) -> str:
    try:
        return base64.b64decode(s, validate=True).decode(errors="replace")
    except (binascii.Error, ValueError) as err:
        return f"illegal base64 data: {err}"


def _b32dec(s: str) -> str:
    try:
        return base64.b32decode(s).decode(errors="replace")
    except (binascii.Error, ValueError) as err:
        return f"illegal base32 data: {err}"


# --- numbers -----------------------------------------------------------------------------


def _div(a: Any, b: Any) -> int:
    x, y = to_int64(a), to_int64(b)
    if y == 0:
        raise FuncError("runtime error: integer divide by zero")
    q = abs(x) // abs(y)
    return q if (x < 0) == (y < 0) else -q


def _mod(a: Any, b: Any) -> int:
    x, y = to_int64(a), to_int64(b)
    if y == 0:
        raise FuncError("runtime error: integer divide by zero")
    return x - _div(x, y) * y


def _decimal_op(op: Callable[[Decimal, Decimal], Decimal]) -> Callable[..., float]:
    def run(first: Any, *rest: Any) -> float:
        total = Decimal(repr(to_float64(first)))
        try:
            for x in rest:
                total = op(total, Decimal(repr(to_float64(x))))
        except (DivisionByZero, InvalidOperation):
            raise FuncError("decimal division by 0") from None
        return float(total)

    return run


def _round(a: Any, places: int, *on: float) -> float:
    value, pow10 = to_float64(a), 10.0**places
    digit = pow10 * value
    return (math.ceil(digit) if math.modf(digit)[0] >= (on[0] if on else 0.5) else math.floor(digit)) / pow10


def _until_step(start: int, stop: int, step: int) -> list[int]:
    if (stop < start and step >= 0) or (stop >= start and step <= 0):
        return []
    _limit(abs(stop - start) // abs(step))
    return list(range(start, stop, step))


def _seq_string(*params: int) -> str:
    if len(params) == 1:
        start, end, step = 1, params[0], 1 if params[0] >= 1 else -1
        values = _until_step(start, end + step, step)
    elif len(params) == 2:
        step = 1 if params[1] >= params[0] else -1
        values = _until_step(params[0], params[1] + step, step)
    elif len(params) == 3:
        start, step, end = params
        increment = -1 if end < start else 1
        if end < start and step > 0:
            return ""
        values = _until_step(start, end + increment, step)
    else:
        return ""
    return " ".join(str(v) for v in values)


def _to_decimal(v: Any) -> int:
    try:
        return int(gofmt.sprint_value(v), 8)
    except ValueError:
        return 0


# --- lists and dicts -----------------------------------------------------------------------


def _deep_equal(a: Any, b: Any) -> bool:
    return type(a) is type(b) and bool(a == b)


def _uniq(v: Any) -> list[Any]:
    out: list[Any] = []
    for item in _seq(v, "find uniq"):
        if not any(_deep_equal(item, o) for o in out):
            out.append(item)
    return out


def _without(v: Any, *omit: Any) -> list[Any]:
    return [item for item in _seq(v, "find without") if not any(_deep_equal(item, o) for o in omit)]


def _has(needle: Any, haystack: Any) -> bool:
    if haystack is None:
        return False
    return any(_deep_equal(needle, item) for item in _seq(haystack, "find has"))


def _first(v: Any) -> Any:
    items = _seq(v, "find first")
    return items[0] if items else None


def _last(v: Any) -> Any:
    items = _seq(v, "find last")
    return items[-1] if items else None


def _rest(v: Any) -> Any:
    items = _seq(v, "find rest")
    return items[1:] if items else None


def _initial(v: Any) -> Any:
    items = _seq(v, "find initial")
    return items[:-1] if items else None


def _slice_list(v: Any, *indices: Any) -> Any:
    items = _seq(v, "slice")
    if not items:
        return None
    start = to_int64(indices[0]) if indices else 0
    end = to_int64(indices[1]) if len(indices) > 1 else len(items)
    if not 0 <= start <= end <= len(items):
        raise FuncError(f"slice bounds out of range [{start}:{end}] with capacity {len(items)}")
    return items[start:end]


def _chunk(size: int, v: Any) -> list[list[Any]]:
    items = _seq(v, "chunk")
    if size <= 0:
        raise FuncError("runtime error: integer divide by zero")
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def _concat(*lists: Any) -> list[Any]:
    out: list[Any] = []
    for v in lists:
        out += _seq(v, "concat type as list")
    return out


def _dict(*kv: Any) -> dict[str, Any]:
    return {strval(kv[i]): kv[i + 1] if i + 1 < len(kv) else "" for i in range(0, len(kv), 2)}


def _merge(dst: dict[str, Any], *srcs: dict[str, Any], overwrite: bool = False) -> dict[str, Any]:
    """mergo.Merge: fill keys missing (or empty, unless ``overwrite``) in ``dst``, deeply for maps."""
    for src in srcs:
        for key, value in src.items():
            if isinstance(dst.get(key), dict) and isinstance(value, dict):
                _merge(dst[key], value, overwrite=overwrite)
            elif key not in dst or (overwrite and not _empty(value)) or _empty(dst[key]):
                dst[key] = value
    return dst


def _set(d: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    d[key] = value
    return d


def _unset(d: dict[str, Any], key: str) -> dict[str, Any]:
    d.pop(key, None)
    return d


def _dig(*args: Any) -> Any:
    if len(args) < 3:
        raise FuncError("dig needs at least three arguments")
    current, default, keys = args[-1], args[-2], args[:-2]
    for key in keys:
        if not isinstance(current, Mapping) or not isinstance(key, str):
            raise FuncError("dig: interface conversion: not a map[string]interface {}")
        if key not in current:
            return default
        current = current[key]
    return current


# --- JSON ----------------------------------------------------------------------------------


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | float | str):
        if isinstance(v, float) and not math.isfinite(v):
            raise FuncError(f"json: unsupported value: {gofmt.format_float(v)}")
        return v
    if isinstance(v, Mapping):
        if not all(isinstance(k, str | int) for k in v):
            raise FuncError(f"json: unsupported type: {gofmt.go_type(v)}")
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if gofmt.is_struct(v):
        as_json = getattr(v, "go_json", None)
        return as_json() if as_json else {name: _jsonable(x) for name, x in gofmt.struct_fields(v)}
    return str(v)


def _to_json(v: Any, *, indent: bool = False, escape_html: bool = True) -> str:
    text = json.dumps(
        _jsonable(v), sort_keys=True, ensure_ascii=False, indent=2 if indent else None,
        separators=(",", ": ") if indent else (",", ":"),
    )  # fmt: skip
    if escape_html:
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _lenient(fn: Callable[..., str]) -> Callable[..., str]:
    """sprig's non-``must`` JSON functions return "" where the ``must`` ones fail."""

    def run(*args: Any) -> str:
        try:
            return fn(*args)
        except FuncError:
            return ""

    return run


def _from_json(s: str) -> Any:
    try:
        return json.loads(s, parse_int=float, parse_constant=_no_constant)
    except (ValueError, RecursionError) as err:
        raise FuncError(str(err)) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")


# --- regular expressions, semver, paths, URLs ----------------------------------------------


def _regex(pattern: str) -> Any:
    """A Go (RE2) regular expression, linear in time like Go's."""
    try:
        return regex(pattern, what="regular expression")
    except PatternError as err:
        raise FuncError(err.message) from None


def _find_all(pattern: str, s: str, n: int) -> list[str]:
    found = [m.group() for m in _regex(pattern).finditer(s)]
    return found if n < 0 else found[:n]


def _regex_split(pattern: str, s: str, n: int) -> list[str]:
    if n == 0:
        return []
    regex, start = _regex(pattern), 0
    out: list[str] = []
    if pattern and not s:
        return [""]
    for m in regex.finditer(s):
        if n > 0 and len(out) == n - 1:
            break
        if m.end() == 0:
            continue
        out.append(s[start : m.start()])
        start = m.end()
    return [*out, s[start:]]


@dataclass(frozen=True)
class SemverValue:
    """What sprig's ``semver`` returns (a ``*semver.Version``), for ``.Major`` and friends."""

    version: Version

    GO_TYPE = "*semver.Version"

    def __str__(self) -> str:
        return str(self.version)

    @property
    def Major(self) -> int:
        return self.version.major

    @property
    def Minor(self) -> int:
        return self.version.minor

    @property
    def Patch(self) -> int:
        return self.version.patch

    @property
    def Prerelease(self) -> str:
        return self.version.prerelease

    @property
    def Metadata(self) -> str:
        return self.version.metadata

    @property
    def Original(self) -> str:
        return self.version.original


def _semver(text: str) -> SemverValue:
    try:
        return SemverValue(Version.parse(text))
    except SemverError as err:
        raise FuncError(err.message) from None


def _semver_compare(constraint: str, version: str) -> bool:
    try:
        return Constraint.parse(constraint).check(Version.parse(version))
    except SemverError as err:
        raise FuncError(err.message) from None


def _go_clean(path: str) -> str:
    """``path.Clean`` (one leading slash, unlike POSIX's double-slash rule)."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def _go_base(path: str) -> str:
    if not path:
        return "."
    stripped = path.rstrip("/")
    return stripped.rsplit("/", 1)[-1] if stripped else "/"


def _go_dir(path: str) -> str:
    head = path[: path.rfind("/") + 1]
    return _go_clean(head)


def _go_ext(path: str) -> str:
    name = path[path.rfind("/") + 1 :]
    dot = name.rfind(".")
    return name[dot:] if dot >= 0 else ""


def _url_parse(text: str) -> dict[str, Any]:
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError as err:
        raise FuncError(f"unable to parse url: {err}") from None
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    return {
        "scheme": parts.scheme,
        "host": parts.netloc.rpartition("@")[2],
        "hostname": parts.hostname or "",
        "path": parts.path,
        "query": parts.query,
        "opaque": "",
        "fragment": parts.fragment,
        "userinfo": userinfo,
    }


def _url_join(d: Mapping[str, Any]) -> str:
    host = str(d.get("host", "") or "")
    userinfo = str(d.get("userinfo", "") or "")
    netloc = f"{userinfo}@{host}" if userinfo else host
    return urllib.parse.urlunsplit(
        (
            str(d.get("scheme", "")),
            netloc,
            str(d.get("path", "")),
            str(d.get("query", "")),
            str(d.get("fragment", "")),
        )
    )


def _duration(seconds: Any) -> str:
    """``time.Duration(n) * time.Second`` printed as Go prints durations (``1h2m3s``)."""
    total = to_int64(seconds)
    if total == 0:
        return "0s"
    sign, total = ("-" if total < 0 else ""), abs(total)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    return f"{sign}{minutes}m{secs}s" if minutes else f"{sign}{secs}s"


def _fail(message: str) -> str:
    raise FuncError(message)


def _type_is_like(target: str, v: Any) -> bool:
    t = gofmt.go_type(v)
    return target in (t, "*" + t)


def _refused(name: str, why: str) -> GoFunc:
    def refuse(*_: Any) -> Any:
        raise FuncError(f"{name} is not available in commit messages here: it {why}")

    return GoFunc(refuse, (), "any")


_HASHES = {"sha1sum": hashlib.sha1, "sha256sum": hashlib.sha256, "sha512sum": hashlib.sha512}

STR, INT, FLOAT, ANY, DICT, BOOL = "string", "int", "float64", "any", "dict", "bool"

#: sprig's list functions: each name and its must* twin share one implementation
_LIST_FUNCS: list[tuple[tuple[str, ...], Callable[..., Any], tuple[str, ...], str | None]] = [
    (("append", "push", "mustAppend", "mustPush"), lambda v, x: [*_seq(v, "push"), x], (ANY, ANY), None),
    (("prepend", "mustPrepend"), lambda v, x: [x, *_seq(v, "prepend")], (ANY, ANY), None),
    (("first", "mustFirst"), _first, (ANY,), None),
    (("rest", "mustRest"), _rest, (ANY,), None),
    (("last", "mustLast"), _last, (ANY,), None),
    (("initial", "mustInitial"), _initial, (ANY,), None),
    (("reverse", "mustReverse"), lambda v: _seq(v, "reverse")[::-1], (ANY,), None),
    (("uniq", "mustUniq"), _uniq, (ANY,), None),
    (("without", "mustWithout"), _without, (ANY,), ANY),
    (("has", "mustHas"), _has, (ANY, ANY), None),
    (("slice", "mustSlice"), _slice_list, (ANY,), ANY),
    (("chunk", "mustChunk"), _chunk, (INT, ANY), None),
]

_FUNCS: dict[str, GoFunc] = {
    "hello": GoFunc(lambda: "Hello!"),
    # strings
    "abbrev": GoFunc(_abbrev, (INT, STR)),
    "abbrevboth": GoFunc(_abbrevboth, (INT, INT, STR)),
    "trunc": GoFunc(_trunc, (INT, STR)),
    "trim": GoFunc(lambda s: s.strip(), (STR,)),
    "upper": GoFunc(_upper, (STR,)),
    "lower": GoFunc(_lower, (STR,)),
    "title": GoFunc(_title, (STR,)),
    "untitle": GoFunc(_untitle, (STR,)),
    "substr": GoFunc(_substr, (INT, INT, STR)),
    "repeat": GoFunc(_repeat, (INT, STR)),
    "trimall": GoFunc(lambda a, b: b.strip(a), (STR, STR)),
    "trimAll": GoFunc(lambda a, b: b.strip(a), (STR, STR)),
    "trimSuffix": GoFunc(lambda a, b: b.removesuffix(a), (STR, STR)),
    "trimPrefix": GoFunc(lambda a, b: b.removeprefix(a), (STR, STR)),
    "nospace": GoFunc(lambda s: "".join(s.split()), (STR,)),
    "initials": GoFunc(_initials, (STR,)),
    "swapcase": GoFunc(_swapcase, (STR,)),
    "snakecase": GoFunc(lambda s: "_".join(w.lower() for w in _words(s)), (STR,)),
    "camelcase": GoFunc(lambda s: "".join(w[:1].upper() + w[1:].lower() for w in _words(s)), (STR,)),
    "kebabcase": GoFunc(lambda s: "-".join(w.lower() for w in _words(s)), (STR,)),
    "wrap": GoFunc(lambda n, s: _wrap(n, s), (INT, STR)),
    "wrapWith": GoFunc(lambda n, sep, s: _wrap(n, s, sep or "\n", True), (INT, STR, STR)),
    "contains": GoFunc(lambda sub, s: sub in s, (STR, STR)),
    "hasPrefix": GoFunc(lambda p, s: s.startswith(p), (STR, STR)),
    "hasSuffix": GoFunc(lambda p, s: s.endswith(p), (STR, STR)),
    "quote": GoFunc(_quote, (), ANY),
    "squote": GoFunc(_squote, (), ANY),
    "cat": GoFunc(_cat, (), ANY),
    "indent": GoFunc(_indent, (INT, STR)),
    "nindent": GoFunc(lambda n, s: "\n" + _indent(n, s), (INT, STR)),
    "replace": GoFunc(lambda old, new, s: s.replace(old, new), (STR, STR, STR)),
    "plural": GoFunc(lambda one, many, n: one if n == 1 else many, (STR, STR, INT)),
    **{name: GoFunc(lambda s, h=h: h(s.encode()).hexdigest(), (STR,)) for name, h in _HASHES.items()},
    "adler32sum": GoFunc(lambda s: str(zlib.adler32(s.encode())), (STR,)),
    "toString": GoFunc(strval, (ANY,)),
    "atoi": GoFunc(lambda s: to_int64(s) if re.fullmatch(r"[+-]?[0-9]+", s) else 0, (STR,)),
    "int64": GoFunc(to_int64, (ANY,)),
    "int": GoFunc(to_int64, (ANY,)),
    "float64": GoFunc(to_float64, (ANY,)),
    "seq": GoFunc(_seq_string, (), INT),
    "toDecimal": GoFunc(_to_decimal, (ANY,)),
    "split": GoFunc(lambda sep, s: _split(sep, s), (STR, STR)),
    "splitList": GoFunc(lambda sep, s: _go_split(s, sep), (STR, STR)),
    "splitn": GoFunc(lambda sep, n, s: _split(sep, s, n), (STR, INT, STR)),
    "toStrings": GoFunc(strslice, (ANY,)),
    "until": GoFunc(lambda n: _until_step(0, n, 1 if n >= 0 else -1), (INT,)),
    "untilStep": GoFunc(_until_step, (INT, INT, INT)),
    "join": GoFunc(lambda sep, v: sep.join(strslice(v)), (STR, ANY)),
    "sortAlpha": GoFunc(lambda v: sorted(strslice(v)), (ANY,)),
    # numbers
    "add1": GoFunc(lambda i: to_int64(i) + 1, (ANY,)),
    "add": GoFunc(lambda *v: sum(to_int64(x) for x in v), (), ANY),
    "sub": GoFunc(lambda a, b: to_int64(a) - to_int64(b), (ANY, ANY)),
    "div": GoFunc(_div, (ANY, ANY)),
    "mod": GoFunc(_mod, (ANY, ANY)),
    "mul": GoFunc(lambda a, *v: math.prod([to_int64(a), *(to_int64(x) for x in v)]), (ANY,), ANY),
    "add1f": GoFunc(lambda i: _decimal_op(lambda x, y: x + y)(i, 1), (ANY,)),
    "addf": GoFunc(lambda *v: _decimal_op(lambda x, y: x + y)(0.0, *v), (), ANY),
    "subf": GoFunc(_decimal_op(lambda x, y: x - y), (ANY,), ANY),
    "divf": GoFunc(_decimal_op(lambda x, y: x / y), (ANY,), ANY),
    "mulf": GoFunc(_decimal_op(lambda x, y: x * y), (ANY,), ANY),
    "biggest": GoFunc(lambda a, *v: max([to_int64(a), *(to_int64(x) for x in v)]), (ANY,), ANY),
    "max": GoFunc(lambda a, *v: max([to_int64(a), *(to_int64(x) for x in v)]), (ANY,), ANY),
    "min": GoFunc(lambda a, *v: min([to_int64(a), *(to_int64(x) for x in v)]), (ANY,), ANY),
    "maxf": GoFunc(lambda a, *v: max([to_float64(a), *(to_float64(x) for x in v)]), (ANY,), ANY),
    "minf": GoFunc(lambda a, *v: min([to_float64(a), *(to_float64(x) for x in v)]), (ANY,), ANY),
    "ceil": GoFunc(lambda a: float(math.ceil(to_float64(a))), (ANY,)),
    "floor": GoFunc(lambda a: float(math.floor(to_float64(a))), (ANY,)),
    "round": GoFunc(_round, (ANY, INT), FLOAT),
    # defaults, JSON, types
    "default": GoFunc(lambda d, *given: d if not given or _empty(given[0]) else given[0], (ANY,), ANY),
    "empty": GoFunc(_empty, (ANY,)),
    "coalesce": GoFunc(lambda *v: next((x for x in v if not _empty(x)), None), (), ANY),
    "all": GoFunc(lambda *v: all(not _empty(x) for x in v), (), ANY),
    "any": GoFunc(lambda *v: any(not _empty(x) for x in v), (), ANY),
    "compact": GoFunc(lambda v: [x for x in _seq(v, "compact") if not _empty(x)], (ANY,)),
    "mustCompact": GoFunc(lambda v: [x for x in _seq(v, "compact") if not _empty(x)], (ANY,)),
    "fromJson": GoFunc(lambda s: _lenient_value(_from_json, s), (STR,)),
    "mustFromJson": GoFunc(_from_json, (STR,)),
    "toJson": GoFunc(_lenient(_to_json), (ANY,)),
    "mustToJson": GoFunc(_to_json, (ANY,)),
    "toPrettyJson": GoFunc(_lenient(lambda v: _to_json(v, indent=True)), (ANY,)),
    "mustToPrettyJson": GoFunc(lambda v: _to_json(v, indent=True), (ANY,)),
    "toRawJson": GoFunc(lambda v: _to_json(v, escape_html=False), (ANY,)),
    "mustToRawJson": GoFunc(lambda v: _to_json(v, escape_html=False), (ANY,)),
    "ternary": GoFunc(lambda t, f, cond: t if cond else f, (ANY, ANY, BOOL)),
    "deepCopy": GoFunc(copy.deepcopy, (ANY,)),
    "mustDeepCopy": GoFunc(copy.deepcopy, (ANY,)),
    "typeOf": GoFunc(gofmt.go_type, (ANY,)),
    "typeIs": GoFunc(lambda t, v: gofmt.go_type(v) == t, (STR, ANY)),
    "typeIsLike": GoFunc(_type_is_like, (STR, ANY)),
    "kindOf": GoFunc(gofmt.go_kind, (ANY,)),
    "kindIs": GoFunc(lambda k, v: gofmt.go_kind(v) == k, (STR, ANY)),
    "deepEqual": GoFunc(_deep_equal, (ANY, ANY)),
    # paths
    "base": GoFunc(_go_base, (STR,)),
    "dir": GoFunc(_go_dir, (STR,)),
    "clean": GoFunc(_go_clean, (STR,)),
    "ext": GoFunc(_go_ext, (STR,)),
    "isAbs": GoFunc(lambda p: p.startswith("/"), (STR,)),
    "osBase": GoFunc(_go_base, (STR,)),
    "osClean": GoFunc(_go_clean, (STR,)),
    "osDir": GoFunc(_go_dir, (STR,)),
    "osExt": GoFunc(_go_ext, (STR,)),
    "osIsAbs": GoFunc(lambda p: p.startswith("/"), (STR,)),
    # encodings
    "b64enc": GoFunc(lambda s: base64.b64encode(s.encode()).decode(), (STR,)),
    "b64dec": GoFunc(_b64dec, (STR,)),
    "b32enc": GoFunc(lambda s: base64.b32encode(s.encode()).decode(), (STR,)),
    "b32dec": GoFunc(_b32dec, (STR,)),
    # lists and dicts
    "tuple": GoFunc(lambda *v: list(v), (), ANY),
    "list": GoFunc(lambda *v: list(v), (), ANY),
    "dict": GoFunc(_dict, (), ANY),
    "get": GoFunc(lambda d, k: d.get(k, "") if d is not None else "", (DICT, STR)),
    "set": GoFunc(_set, (DICT, STR, ANY)),
    "unset": GoFunc(_unset, (DICT, STR)),
    "hasKey": GoFunc(lambda d, k: d is not None and k in d, (DICT, STR)),
    "pluck": GoFunc(lambda k, *ds: [d[k] for d in ds if d is not None and k in d], (STR,), DICT),
    "keys": GoFunc(lambda *ds: [k for d in ds if d is not None for k in d], (), DICT),
    "pick": GoFunc(lambda d, *ks: {k: d[k] for k in ks if d is not None and k in d}, (DICT,), STR),
    "omit": GoFunc(lambda d, *ks: {k: v for k, v in (d or {}).items() if k not in ks}, (DICT,), STR),
    "merge": GoFunc(_merge, (DICT,), DICT),
    "mustMerge": GoFunc(_merge, (DICT,), DICT),
    "mergeOverwrite": GoFunc(lambda d, *s: _merge(d, *s, overwrite=True), (DICT,), DICT),
    "mustMergeOverwrite": GoFunc(lambda d, *s: _merge(d, *s, overwrite=True), (DICT,), DICT),
    "values": GoFunc(lambda d: list((d or {}).values()), (DICT,)),
    "dig": GoFunc(_dig, (), ANY),
    **{name: GoFunc(fn, params, variadic) for names, fn, params, variadic in _LIST_FUNCS for name in names},
    "concat": GoFunc(_concat, (), ANY),
    # semver, regular expressions, URLs, durations
    "semver": GoFunc(_semver, (STR,)),
    "semverCompare": GoFunc(_semver_compare, (STR, STR)),
    "fail": GoFunc(_fail, (STR,)),
    "regexMatch": GoFunc(
        lambda p, s: _lenient_value(lambda: bool(_regex(p).search(s)), default=False), (STR, STR)
    ),
    "mustRegexMatch": GoFunc(lambda p, s: bool(_regex(p).search(s)), (STR, STR)),
    "regexFindAll": GoFunc(_find_all, (STR, STR, INT)),
    "mustRegexFindAll": GoFunc(_find_all, (STR, STR, INT)),
    "regexFind": GoFunc(lambda p, s: (m.group() if (m := _regex(p).search(s)) else ""), (STR, STR)),
    "mustRegexFind": GoFunc(lambda p, s: (m.group() if (m := _regex(p).search(s)) else ""), (STR, STR)),
    "regexReplaceAll": GoFunc(lambda p, s, r: _regex(p).sub(lambda m: go_expand(r, m), s), (STR, STR, STR)),
    "mustRegexReplaceAll": GoFunc(
        lambda p, s, r: _regex(p).sub(lambda m: go_expand(r, m), s), (STR, STR, STR)
    ),
    "regexReplaceAllLiteral": GoFunc(lambda p, s, r: _regex(p).sub(lambda m: r, s), (STR, STR, STR)),
    "mustRegexReplaceAllLiteral": GoFunc(lambda p, s, r: _regex(p).sub(lambda m: r, s), (STR, STR, STR)),
    "regexSplit": GoFunc(_regex_split, (STR, STR, INT)),
    "mustRegexSplit": GoFunc(_regex_split, (STR, STR, INT)),
    "regexQuoteMeta": GoFunc(lambda s: re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", s), (STR,)),
    "urlParse": GoFunc(_url_parse, (STR,)),
    "urlJoin": GoFunc(_url_join, (DICT,)),
    "duration": GoFunc(_duration, (ANY,)),
}

_CLOCK = "reads the clock, so the same change would give different messages"
_RANDOM = "draws random values, so the same change would give different messages"
_SECRET = "makes keys, certificates, password hashes or ciphertext, which do not belong in Git history"
for _names, _why in [
    (("ago", "toDate", "mustToDate", "unixEpoch", "must_date_modify", "mustDateModify"), _CLOCK),
    (("durationRound",), _CLOCK),
    (("randInt", "shuffle"), _RANDOM),
    (
        ("bcrypt", "htpasswd", "genPrivateKey", "derivePassword", "buildCustomCert", "genCA", "genCAWithKey",
         "genSelfSignedCert", "genSelfSignedCertWithKey", "genSignedCert", "genSignedCertWithKey",
         "encryptAES", "decryptAES"),
        _SECRET,
    ),
]:  # fmt: skip
    _FUNCS.update({name: _refused(name, _why) for name in _names})


def _lenient_value(fn: Callable[..., Any], *args: Any, default: Any = None) -> Any:
    try:
        return fn(*args)
    except FuncError:
        return default


#: The function map of a commit template: sprig's hermetic map (Go's builtins are added by the executor).
SPRIG: Mapping[str, GoFunc] = _FUNCS
