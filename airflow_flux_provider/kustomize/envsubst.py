"""Flux's ``envsubst``: the ``${…}`` grammar postBuild substitution uses, rule for rule.

Flux runs a fork of drone/envsubst whose quirks users depend on, so this is a port of its
grammar rather than ``string.Template`` or ``os.path.expandvars``:

- only ``${…}`` expands; ``$var`` stays literal; ``$$`` is a literal ``$`` (so
  ``$${x}`` renders ``${x}``); inside replace arguments ``\\/`` and ``\\\\`` escape;
- ``${v=d}``, ``${v:=d}``, ``${v:-d}``, ``${v:+d}``, ``${v:?d}`` all mean "``d`` when ``v``
  is empty or unset"; ``${v-d}``, ``${v+d}``, ``${v?d}`` do not parse (missing closing
  brace), as in Flux;
- ``${#v}``, ``${v^}``, ``${v^^}``, ``${v,}``, ``${v,,}``, ``${v:off}``, ``${v:off:len}``,
  ``${v#glob}``, ``${v##glob}``, ``${v%glob}``, ``${v%%glob}``, ``${v/s/r}``, ``${v//s/r}``,
  ``${v/#s/r}``, ``${v/%s/r}``; defaults may nest (``${v:=${w}-x}``).

Go's rules hold where Python's would differ: names are letters, ``_`` and decimal digits
(``unicode.IsLetter``/``IsDigit``), offsets parse as ``strconv.Atoi`` (``${v: -2}`` keeps the
value), case changes map rune to rune, and a negative substring length that Flux would
slice out of range (``${v:1:-1}``) is an error rather than bash's result.

In strict mode a variable that is absent (not merely empty) fails unless a default
operator guards it; unlike Flux, every missing name is reported at once.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from airflow_flux_provider.kustomize.errors import EnvsubstError
from airflow_flux_provider.patterns import Glob

BAD_SUBSTITUTION = "bad substitution"
MISSING_BRACE = "missing closing brace"
BAD_NAME = "unable to parse variable name"
BAD_PARAM = "unable to parse substitution within function"
BAD_DEFAULT = "unable to parse default function"

_DEFAULT_OPS = frozenset({"-", "+", "=", "?", ":-", ":+", ":=", ":?"})
#: Go's ``strconv.Atoi``: an optional sign and ASCII digits, nothing else (no spaces, no ``_``).
_GO_INT = re.compile(r"[+-]?[0-9]+")
_INT64 = 1 << 63


def _identifier_char(c: str) -> bool:
    """Go's ``unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_'`` (digits are category Nd only:
    Python's ``isalnum`` also takes ``²`` or ``½``, which end a Flux variable name)."""
    return c == "_" or c.isalpha() or unicodedata.category(c) == "Nd"


@dataclass
class Expr:
    """One ``${…}``: the variable, its operator (``""`` for plain) and argument nodes."""

    param: str
    op: str = ""
    args: list[Node] = field(default_factory=list)


Node = str | Expr | list["Node"]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    # -- low level -----------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> str:
        i = self.pos + ahead
        return self.text[i] if i < len(self.text) else ""

    def fail(self, message: str) -> EnvsubstError:
        start = self.text.rfind("${", 0, self.pos + 1)
        snippet = self.text[max(start, 0) : self.pos + 1].splitlines()[0] if self.text else ""
        return EnvsubstError(f"{message} near {snippet!r}")

    def lbrack(self) -> bool:
        return self.peek() == "$" and self.peek(1) == "{"

    def escaped(self, chars: str) -> str | None:
        """The escaped character when an escape sequence starts here (``$$``, ``\\/``, ``\\\\``)."""
        c, nxt = self.peek(), self.peek(1)
        if c == "$" and "$" in chars and nxt == "$":
            return "$"
        if c == "\\" and "\\" in chars and nxt in ("/", "\\") and nxt:
            return nxt
        return None

    def operator(self, accept: Callable[[str, int], bool]) -> str:
        start = self.pos
        while self.peek() and accept(self.peek(), self.pos - start + 1):
            self.pos += 1
        return self.text[start : self.pos]

    def close(self, message: str = BAD_SUBSTITUTION) -> None:
        if self.peek() != "}":
            raise self.fail(message)
        self.pos += 1

    def run(self, accept: Callable[[str], bool], escapes: str) -> str:
        """A run of accepted characters (escapes resolved) up to ``${``."""
        out: list[str] = []
        while self.peek() and not self.lbrack():
            esc = self.escaped(escapes)
            if esc is not None:
                out.append(esc)
                self.pos += 2
                continue
            if not accept(self.peek()):
                break
            out.append(self.peek())
            self.pos += 1
        return "".join(out)

    # -- grammar -------------------------------------------------------------------------
    def parse_text(self) -> list[Node]:
        """Top level: literal text (jumping from ``$`` to ``$``), ``$$`` escapes and ``${…}``."""
        nodes: list[Node] = []
        literal: list[str] = []
        text = self.text
        while self.pos < len(text):
            dollar = text.find("$", self.pos)
            if dollar < 0:
                literal.append(text[self.pos :])
                break
            literal.append(text[self.pos : dollar])
            self.pos = dollar
            if self.lbrack():
                if any(literal):
                    nodes.append("".join(literal))
                literal = []
                self.pos += 2
                nodes.append(self.parse_expr())
            else:
                literal.append("$")
                self.pos += 2 if self.peek(1) == "$" else 1
        if any(literal):
            nodes.append("".join(literal))
        return nodes

    def param(self, accept: Callable[[str], bool], escapes: str = "") -> Node:
        if self.lbrack():
            self.pos += 2
            return self.parse_expr()
        start = self.pos
        text = self.run(accept, escapes)
        if self.pos == start:
            raise self.fail(BAD_PARAM)
        return text

    def parse_expr(self) -> Expr:
        if self.peek() == "#":
            return self.parse_length()
        name = self.operator(lambda c, _i: _identifier_char(c))
        if not name:
            raise self.fail(BAD_NAME)
        c = self.peek()
        if c == ":":
            return (
                self.parse_default(name) if self.peek(1) in ("=", "-", "?", "+") else self.parse_substr(name)
            )
        if c == "=":
            return self.parse_default(name)
        if c in (",", "^"):
            expr = Expr(name, self.operator(lambda ch, i: ch in ",^" and i < 3))
            self.close()
            return expr
        if c == "/":
            return self.parse_replace(name)
        if c in ("#", "%"):
            expr = Expr(name, self.operator(lambda ch, i: ch == c and i < 3))
            expr.args.append(self.param(lambda ch: ch != "}"))
            self.close()
            return expr
        self.close(MISSING_BRACE)
        return Expr(name)

    def parse_length(self) -> Expr:
        self.pos += 1
        name = self.operator(lambda c, _i: _identifier_char(c))
        if not name:
            raise self.fail(BAD_SUBSTITUTION)
        self.close()
        return Expr(name, "#")

    def parse_default(self, name: str) -> Expr:
        if self.peek() == "=":
            op = self.operator(lambda c, i: i == 1 and c == "=")
        else:
            op = self.operator(lambda c, i: (i == 1 and c == ":") or (i == 2 and c in "=-?+"))
        if not op:
            raise self.fail(BAD_DEFAULT)
        expr = Expr(name, op)
        while self.peek() != "}":
            expr.args.append(self.param(lambda c: c != "}"))
        self.close()
        return expr

    def parse_substr(self, name: str) -> Expr:
        expr = Expr(name, self.operator(lambda c, i: i == 1 and c == ":"))
        expr.args.append(self.param(lambda c: c not in ":}"))
        if self.peek() == "}":
            self.pos += 1
            return expr
        if not self.operator(lambda c, _i: c == ":"):
            raise self.fail(BAD_SUBSTITUTION)
        expr.args.append(self.param(lambda c: c != "}"))
        self.close()
        return expr

    def parse_replace(self, name: str) -> Expr:
        expr = Expr(name, self.operator(lambda c, i: (i == 1 and c == "/") or (i == 2 and c in "/#%")))
        if self.peek() == "/":
            expr.args.append("")
        else:
            expr.args.append(self.param(lambda c: c != "/", "$\\"))
        if not self.operator(lambda c, _i: c == "/"):
            raise self.fail(BAD_SUBSTITUTION)
        if self.peek() == "}":
            self.pos += 1
            return expr
        expr.args.append(self.param(lambda c: c != "}", "$\\"))
        self.close()
        return expr


def parse(text: str) -> list[Node]:
    """Parse ``text``; raises :class:`EnvsubstError` with envsubst's wording."""
    return _Parser(text).parse_text()


# -- functions -----------------------------------------------------------------------------
def _trim(value: str, pattern: str, *, longest: bool) -> str:
    """Strip the shortest (longest) non-empty prefix the glob matches; a malformed glob strips nothing."""
    glob = Glob.parse(pattern)
    return value[glob.prefix(value, longest=longest) :] if glob is not None else value


def _suffix(value: str, pattern: str, *, longest: bool) -> str:
    """As drone/envsubst: the prefix rule on the reversed value with the reversed pattern text."""
    return _trim(value[::-1], pattern[::-1], longest=longest)[::-1]


def _go_int(text: str) -> int | None:
    """``strconv.Atoi``: ``None`` where Go reports an error (so ``${A: -2}`` keeps the value)."""
    if not _GO_INT.fullmatch(text):
        return None
    value = int(text)
    return value if -_INT64 <= value < _INT64 else None


def _substr(value: str, args: list[str]) -> str:
    """fluxcd/pkg ``toSubstr`` on bytes: a negative offset counts from the end; a negative
    length is not bash's "up to the end minus n" but an out-of-range slice, a failure in Flux."""
    data = value.encode()
    pos = _go_int(args[0])
    if pos is None:
        return value
    if pos < 0:
        pos = max(len(data) + pos, 0)
    if len(args) == 1:
        return data[pos:].decode(errors="replace")
    length = _go_int(args[1])
    if length is None:
        return value
    if pos + length >= len(data):
        return data[pos:].decode(errors="replace")
    if length < 0:
        raise EnvsubstError(
            f"substring length {length} is negative (slice bounds out of range [{pos}:{pos + length}]); "
            "Flux's envsubst has no bash-style negative length"
        )
    return data[pos : pos + length].decode(errors="replace")


def _replace_suffix(value: str, args: list[str]) -> str:
    if len(args) == 2 and value.endswith(args[0]):
        return value[: len(value) - len(args[0])] + args[1]
    return value


def _go_upper(c: str) -> str:
    """Go's ``unicode.ToUpper``: one rune to one rune (``ß`` stays ``ß``; Python makes ``SS``)."""
    upper = c.upper()
    return upper if len(upper) == 1 else c


def _go_lower(c: str) -> str:
    """Go's ``unicode.ToLower`` (``İ`` becomes ``i``; Python adds a combining dot)."""
    lower = c.lower()
    return lower if len(lower) == 1 else lower[:1] if c == "\u0130" else c


def apply(op: str, value: str, args: list[str]) -> str:
    """The function an operator names (fluxcd/pkg ``lookupFunc``), applied to ``value``."""
    if op == "#" and not args:
        return str(len(value.encode()))
    if op in ("^", ",", "^^", ",,"):
        change = _go_upper if op[0] == "^" else _go_lower
        return "".join(map(change, value)) if len(op) == 2 else change(value[:1]) + value[1:]
    if op in ("#", "##"):
        return _trim(value, args[0], longest=op == "##")
    if op in ("%", "%%"):
        return _suffix(value, args[0], longest=op == "%%")
    if op == ":":
        return _substr(value, args)
    if op in ("/", "//"):
        return value.replace(args[0], args[1] if len(args) > 1 else "", 1 if op == "/" else -1)
    if op == "/#":
        return args[1] + value[len(args[0]) :] if len(args) == 2 and value.startswith(args[0]) else value
    if op == "/%":
        return _replace_suffix(value, args)
    return value if value or not args else "".join(args)


class _Evaluator:
    def __init__(self, variables: Mapping[str, str], strict: bool) -> None:
        self.variables = variables
        self.strict = strict
        self.missing: list[str] = []

    def render(self, node: Node) -> str:
        if isinstance(node, str):
            return node
        if isinstance(node, list):
            return "".join(self.render(n) for n in node)
        args = [self.render(a) for a in node.args]
        value = self.variables.get(node.param)
        if value is None:
            if self.strict and node.op not in _DEFAULT_OPS and node.param not in self.missing:
                self.missing.append(node.param)
            value = ""
        return apply(node.op, value, args)


def substitute(text: str, variables: Mapping[str, str], *, strict: bool = False) -> tuple[str, list[str]]:
    """Expand ``text``; returns the result and (strict mode) the unset names, in order.

    Raises :class:`EnvsubstError` when an expression does not parse.
    """
    evaluator = _Evaluator(variables, strict)
    return evaluator.render(parse(text)), evaluator.missing
