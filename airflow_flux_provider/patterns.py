"""Every pattern a user (or a manifest) supplies: Go regular expressions and shell globs.

Flux compiles ``filterTags``, ``exclusionList``, Alert ``inclusionList``, semver ranges,
patch target selectors and the like with Go's ``regexp``: RE2 syntax (``[[:digit:]]``,
``\\p{L}``, ``\\z``, ``(?P<name>…)`` and ``(?<name>…)``) and linear time whatever the input.
Python's ``re`` backtracks: a pattern or a tag crafted for it takes exponential time (a
2.9 s manifest, an 11 s substitution). So every such pattern goes through :func:`regex`
(RE2, the ``google-re2`` binding), and globs (``.sourceignore``, envsubst's ``${var#pattern}``)
are translated to RE2 by :class:`Glob`. Patterns and matched text are capped in length.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Protocol

import re2

from airflow_flux_provider.errors import FluxError

MAX_PATTERN = 4096  # characters of one pattern: far beyond any real tag filter or glob
_MAX_MEMORY = 8 << 20  # RE2's default program budget; larger programs are refused, not run


class PatternError(FluxError):
    """A user pattern is not valid Go RE2 syntax (or is too large to run safely)."""


class Match(Protocol):
    """The part of a match object callers use (RE2's and ``re``'s agree on it)."""

    def group(self, *groups: int | str) -> Any: ...
    def start(self, group: int | str = 0) -> int: ...
    def end(self, group: int | str = 0) -> int: ...
    def __getitem__(self, group: int | str) -> Any: ...


def _options(*, longest: bool = False, dot_nl: bool = False) -> Any:
    options = re2.Options()
    options.log_errors = False  # the error goes into our message, not to stderr
    options.max_mem = _MAX_MEMORY
    options.longest_match = longest
    options.dot_nl = dot_nl
    return options


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str, longest: bool, dot_nl: bool) -> Any:
    return re2.compile(pattern, _options(longest=longest, dot_nl=dot_nl))


def regex(
    pattern: str,
    *,
    obj: str | None = None,
    field: str | None = None,
    error: type[FluxError] = PatternError,
    what: str = "pattern",
    longest: bool = False,
    dot_nl: bool = False,
) -> Any:
    """``pattern`` compiled as Go would (RE2); a bad one raises ``error`` naming ``obj`` and ``field``.

    The result has ``search``, ``match``, ``fullmatch``, ``sub``, ``findall``, ``groups`` and
    ``groupindex`` as a ``re`` pattern does, and runs in time linear in the text.
    """
    if len(pattern) > MAX_PATTERN:
        raise error(
            f"{what} is {len(pattern)} characters long, over the limit of {MAX_PATTERN}; shorten it",
            obj=obj,
            field=field,
        )
    try:
        return _compile(pattern, longest, dot_nl)
    except re2.error as err:
        reason = err.args[0].decode(errors="replace") if err.args and isinstance(err.args[0], bytes) else err
        raise error(
            f"{what} {pattern!r} is not a valid regular expression (Go RE2 syntax): {reason}; "
            "fix the expression",
            obj=obj,
            field=field,
        ) from None


# -- globs --------------------------------------------------------------------------------------


def _escape(text: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else f"\\x{{{ord(c):x}}}" for c in text)


def _any_char(separator: str | None) -> str:
    return f"[^{_escape(separator)}]" if separator else "(?s:.)"


@dataclass(frozen=True)
class Glob:
    """A shell glob — ``*``, ``?``, ``[…]``/``[^…]``, ``\\x`` — as a list of RE2 pieces.

    ``*`` matches any run of characters (``separator`` excluded when given), ``?`` one
    character. Matching is linear in the text, whatever the number of ``*``.
    """

    pieces: tuple[str, ...]
    separator: str | None = None

    @classmethod
    def parse(cls, pattern: str, *, separator: str | None = None) -> Glob | None:
        """The glob, or ``None`` when malformed (an unclosed or empty ``[``, a trailing ``\\``):
        a malformed pattern matches nothing, as Go's ``path.Match`` reports ``ErrBadPattern``."""
        if len(pattern) > MAX_PATTERN:
            return None
        any_char = _any_char(separator)
        pieces: list[str] = []
        i = 0
        while i < len(pattern):
            c = pattern[i]
            if c == "*":
                pieces.append("*")
            elif c == "?":
                pieces.append(any_char)
            elif c == "\\":
                if i + 1 >= len(pattern):
                    return None
                i += 1
                pieces.append(_escape(pattern[i]))
            elif c == "[":
                end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("^", "]") else i + 1)
                if end < 0:
                    return None
                body = pattern[i + 1 : end]
                negate = body.startswith("^")
                body = body[1:] if negate else body
                if not body:
                    return None
                piece = "[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]"
                try:
                    _compile(piece, False, True)
                except re2.error:
                    return None
                pieces.append(piece)
                i = end
            else:
                pieces.append(_escape(c))
            i += 1
        return cls(tuple(pieces), separator)

    def _source(self, pieces: tuple[str, ...], *, lazy: bool = False) -> str:
        star = _any_char(self.separator) + ("*?" if lazy else "*")
        return "".join(star if p == "*" else p for p in pieces)

    def fullmatch(self, text: str) -> bool:
        return _compile(self._source(self.pieces), False, True).fullmatch(text) is not None

    def prefix(self, text: str, *, longest: bool) -> int:
        """Length of the shortest (or longest) non-empty prefix of ``text`` the glob matches; 0 if none."""
        return self._affix(text, self.pieces, longest=longest)

    def suffix(self, text: str, *, longest: bool) -> int:
        """Length of the shortest (or longest) non-empty suffix of ``text`` the glob matches; 0 if none.

        Matched on the reversed text with the pieces in reverse order (a class stays a class).
        """
        return self._affix(text[::-1], self.pieces[::-1], longest=longest)

    def _affix(self, text: str, pieces: tuple[str, ...], *, longest: bool) -> int:
        if not pieces or not text:
            return 0
        if all(p == "*" for p in pieces):
            pieces = (_any_char(self.separator), "*")  # stars alone: any prefix of at least one character
        # Leftmost-longest finds the longest prefix; lazy stars under leftmost-first the shortest.
        found = _compile(self._source(pieces, lazy=not longest), longest, True).match(text)
        return 0 if found is None else int(found.end())
