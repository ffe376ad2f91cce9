"""Semantic versions and ranges, read the way Masterminds/semver v3.5 reads them.

The one semver of the project: ImagePolicy ``semver.range``, GitRepository and
OCIRepository ``ref.semver``, HelmChart ``version`` and the spec validation of all of them.
Flux and Helm both select versions with Masterminds/semver, so a range must pick here
exactly what it picks there: the lenient parser accepts ``v1``, ``1.2`` and leading zeros, a
constraint without a prerelease never matches a prerelease version (unless another
comparator of the same ``||`` alternative names one), and ``x``/``X``/``*`` or a missing
part widen a comparator the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import total_ordering

from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.patterns import regex

__all__ = ["Constraint", "SemverError", "Version", "latest"]

_UINT64_MAX = 2**64 - 1
# Versions are read a hundred thousand at a time (every tag of a repository), so their two
# fixed patterns use ``re``: both are unambiguous (each repetition starts with "." or "+",
# which the classes before it exclude), so backtracking stays linear, and ``re`` is some
# twenty times faster per call than the RE2 binding. User-written ranges go through RE2.
_IDENT_CHARS = re.compile(r"[0-9A-Za-z-]+")
_LOOSE = re.compile(
    r"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
)
_EXAMPLES = "write e.g. >=1.0.0, 1.2.x, ~1.2, ^1.0 or >=1.0.0 <2.0.0 (|| between alternatives)"


class SemverError(FluxError):
    """A version or a range that Masterminds/semver (and so Flux and Helm) would refuse."""


def _pre_key(pre: str) -> tuple[tuple[int, int, str], ...]:
    """Order key of a prerelease: numeric identifiers sort before alphanumeric ones."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))


@total_ordering
@dataclass(frozen=True, eq=False, slots=True)
class Version:
    """One semantic version; ``original`` keeps the text it was read from (e.g. a tag)."""

    major: int
    minor: int
    patch: int
    prerelease: str = ""
    metadata: str = ""
    original: str = ""

    @classmethod
    def parse(cls, text: str) -> Version:
        """Read ``text`` as Masterminds' ``NewVersion`` (what Helm uses): ``v1``, ``1.2`` and
        leading zeros are fine. See :meth:`parse_tag` for the rule Flux applies to tags."""
        if not text:
            raise SemverError("an empty string is not a semantic version; write e.g. 1.2.3")
        return _parse_loose(text)

    @classmethod
    def parse_tag(cls, text: str) -> Version:
        """Read a tag as Flux's ``version.ParseVersion``: exactly three dot-separated parts, then
        the lenient parser, so ``v1.2.3`` and CalVer ``2025.02.03`` qualify and ``1.2`` does not."""
        if len(text.split(".", 2)) != 3:
            raise SemverError(f"{text!r} is not MAJOR.MINOR.PATCH; write e.g. 1.2.3")
        return _parse_loose(text)

    @property
    def sort_key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        """Semver 2.0 precedence as a tuple (build metadata ignored)."""
        if not self.prerelease:
            return (self.major, self.minor, self.patch, 1, ())
        return (self.major, self.minor, self.patch, 0, _pre_key(self.prerelease))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.sort_key == other.sort_key

    def __hash__(self) -> int:
        return hash(self.sort_key)

    def __lt__(self, other: Version) -> bool:
        return self.sort_key < other.sort_key

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += f"-{self.prerelease}"
        if self.metadata:
            text += f"+{self.metadata}"
        return text


def _uint(text: str, original: str) -> int:
    value = int(text)
    if value > _UINT64_MAX:
        raise SemverError(f"{original!r}: {text} is larger than a 64-bit version number allows")
    return value


def _check_identifiers(text: str, original: str, *, prerelease: bool) -> None:
    what = "prerelease" if prerelease else "build metadata"
    for ident in text.split("."):
        if not ident or not _IDENT_CHARS.fullmatch(ident):
            raise SemverError(
                f"{original!r} has an invalid {what} {text!r}; use dot-separated [0-9A-Za-z-] identifiers"
            )
        if prerelease and ident.isdigit() and len(ident) > 1 and ident[0] == "0":
            raise SemverError(f"{original!r}: numeric prerelease identifier {ident!r} must not start with 0")


def _parse_loose(text: str) -> Version:
    m = _LOOSE.fullmatch(text)
    if m is None:
        raise SemverError(f"{text!r} is not a semantic version; write e.g. 1.2.3, v1.2 or 1.2.3-rc.1")
    pre, meta = m[5] or "", m[8] or ""
    if pre:
        _check_identifiers(pre, text, prerelease=True)
    if meta:
        _check_identifiers(meta, text, prerelease=False)
    minor = _uint(m[2][1:], text) if m[2] else 0
    patch = _uint(m[3][1:], text) if m[3] else 0
    return Version(_uint(m[1], text), minor, patch, pre, meta, text)


# --- constraints -------------------------------------------------------------------

_CV = (
    r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
)
_OPS = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^"
_ONE = regex(rf"\s*({_OPS})\s*({_CV})\s*")
_HYPHEN = regex(rf"\s*({_CV})\s+-\s+({_CV})\s*")
_FIND = regex(rf"(?:{_OPS})\s*(?:{_CV})")
_VALID = regex(rf"(\s*({_OPS})\s*({_CV})\s*)((?:\s+|,\s*)({_OPS})\s*({_CV})\s*)*")
_WILD = ("x", "X", "*")


@dataclass(frozen=True, slots=True)
class _Comparator:
    """One ``op version`` term; the dirty flags record wildcards or missing parts."""

    op: str
    version: Version
    text: str
    dirty: bool = False
    minor_dirty: bool = False
    patch_dirty: bool = False

    def check(self, v: Version, include_pre: bool) -> bool:
        if v.prerelease and not include_pre:
            return False
        return _OPERATORS[self.op](self, v)


def _tilde(c: _Comparator, v: Version) -> bool:
    con = c.version
    if v < con:
        return False
    if (con.major, con.minor, con.patch) == (0, 0, 0) and not c.minor_dirty and not c.patch_dirty:
        return True
    if v.major != con.major:
        return False
    return v.minor == con.minor or c.minor_dirty


def _tilde_or_equal(c: _Comparator, v: Version) -> bool:
    return _tilde(c, v) if c.dirty else v == c.version


def _not_equal(c: _Comparator, v: Version) -> bool:
    con = c.version
    if c.dirty:
        if con.major != v.major:
            return True
        if c.minor_dirty:
            return False
        if con.minor != v.minor:
            return True
        if c.patch_dirty:
            return v.prerelease != con.prerelease
        if con.patch != v.patch:
            return True
    return v != con


def _greater(c: _Comparator, v: Version) -> bool:
    con = c.version
    if not c.dirty:
        return v > con
    if v.major != con.major:
        return v.major > con.major
    if c.minor_dirty:
        return False
    if c.patch_dirty:
        return v.minor > con.minor
    return v > con


def _less_equal(c: _Comparator, v: Version) -> bool:
    con = c.version
    if not c.dirty:
        return v <= con
    if v.major > con.major:
        return False
    return not (v.major == con.major and v.minor > con.minor and not c.minor_dirty)


def _caret(c: _Comparator, v: Version) -> bool:
    con = c.version
    if v < con:
        return False
    if con.major > 0 or c.minor_dirty:
        return v.major == con.major
    if v.major > 0:
        return False
    if con.minor > 0 or c.patch_dirty:
        return v.minor == con.minor
    if v.minor > 0:
        return False
    return v.patch == con.patch


_OPERATORS: dict[str, Callable[[_Comparator, Version], bool]] = {
    "": _tilde_or_equal,
    "=": _tilde_or_equal,
    "!=": _not_equal,
    ">": _greater,
    "<": lambda c, v: v < c.version,
    ">=": lambda c, v: v >= c.version,
    "=>": lambda c, v: v >= c.version,
    "<=": _less_equal,
    "=<": _less_equal,
    "~": _tilde,
    "~>": _tilde,
    "^": _caret,
}


def _comparator(term: str, expr: str) -> _Comparator:
    m = _ONE.fullmatch(term)
    if m is None:  # pragma: no cover - _VALID already matched the alternative
        raise SemverError(f"semver range {expr!r}: {term.strip()!r} is not a comparator; {_EXAMPLES}")
    op, text, major, minor, patch, pre = m[1], m[2], m[3], m[4] or "", m[5] or "", m[6] or ""
    dirty = minor_dirty = patch_dirty = False
    version_text = text
    if major in _WILD:
        version_text, dirty = f"0.0.0{pre}", True
    elif minor[1:] in _WILD or not minor:
        version_text, dirty, minor_dirty = f"{major}.0.0{pre}", True, True
    elif patch[1:] in _WILD or not patch:
        version_text, dirty, patch_dirty = f"{major}{minor}.0{pre}", True, True
    try:
        version = _parse_loose(version_text)
    except SemverError as exc:
        reason = f"semver range {expr!r}: {text!r} is not a version ({exc.message})"
        raise SemverError(f"{reason}; {_EXAMPLES}") from None
    return _Comparator(op, version, op + text, dirty, minor_dirty, patch_dirty)


@dataclass(frozen=True, slots=True)
class Constraint:
    """A Masterminds range: ``||`` alternatives, each an AND of comparators."""

    expr: str
    alternatives: tuple[tuple[_Comparator, ...], ...]
    includes_pre: tuple[bool, ...]

    @classmethod
    def parse(cls, expr: str, *, obj: str | None = None, field: str | None = None) -> Constraint:
        """Read a range such as ``>=1.2.0 <2.0.0 || ~3.1``; ``obj``/``field`` go into any error."""
        try:
            return cls._parse(expr)
        except SemverError as exc:
            raise SemverError(exc.message, obj=obj, field=field) from None

    @classmethod
    def _parse(cls, expr: str) -> Constraint:
        rewritten = expr
        for m in _HYPHEN.finditer(expr):
            rewritten = rewritten.replace(m[0], f">= {m[1]}, <= {m[11]} ", 1)
        alternatives: list[tuple[_Comparator, ...]] = []
        includes_pre: list[bool] = []
        for alternative in rewritten.split("||"):
            if not _VALID.fullmatch(alternative):
                near = alternative.strip() or "an empty alternative"
                raise SemverError(f"semver range {expr!r} is not valid near {near!r}; {_EXAMPLES}")
            terms = tuple(_comparator(m[0], expr) for m in _FIND.finditer(alternative))
            alternatives.append(terms)
            includes_pre.append(any(t.version.prerelease for t in terms))
        return cls(expr, tuple(alternatives), tuple(includes_pre))

    def check(self, version: Version | str) -> bool:
        """True if ``version`` (a :class:`Version` or lenient text) satisfies the range."""
        v = Version.parse(version) if isinstance(version, str) else version
        return any(
            all(term.check(v, pre) for term in terms)
            for terms, pre in zip(self.alternatives, self.includes_pre, strict=True)
        )

    def __str__(self) -> str:
        return self.expr


def latest(versions: Iterable[str], constraint: str, *, flux_tags: bool = False) -> str | None:
    """Return the highest of ``versions`` that satisfies ``constraint``, as written, or None.

    Text that is not a version is skipped. ``flux_tags`` reads each entry as Flux reads
    image and Git tags (:meth:`Version.parse_tag`); otherwise leniently, as Helm does.
    On equal precedence (``1.0.0`` and ``v1.0.0``) the first one seen wins, as in Flux.
    """
    rng = Constraint.parse(constraint)
    read = Version.parse_tag if flux_tags else Version.parse
    best: Version | None = None
    for text in versions:
        try:
            v = read(text)
        except SemverError:
            continue
        if (best is None or v > best) and rng.check(v):
            best = v
    return None if best is None else best.original
