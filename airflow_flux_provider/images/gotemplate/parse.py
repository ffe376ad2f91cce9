"""Go's text/template syntax: lexing and parsing into a tree, with Go's parse-time checks.

Delimiters ``{{ }}`` with ``{{- `` / `` -}}`` trimming, comments, pipelines, parentheses,
field and method chains, variables (``:=`` and ``=``), ``if``/``else if``/``else with``,
``range`` (with ``break``/``continue``), ``with``, ``define``/``template``/``block``, and
Go's literals (strings, raw strings, characters, numbers, booleans, ``nil``). Unknown
functions and undefined variables are refused here, as Go refuses them when it parses.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Container
from dataclasses import dataclass, field

from airflow_flux_provider.images.errors import ImageError

_SPACE = " \t\r\n"
_MAX_PARENS = 100
_KEYWORDS = {"block", "break", "continue", "define", "else", "end", "if", "range", "template", "with"}


class TemplateError(ImageError):
    """A template Go would refuse to parse or execute; the message says where and why."""


# --- tree ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Literal:
    """A constant: str, int, float, bool, or a character (``rune`` True, an int)."""

    value: object
    rune: bool = False


@dataclass(frozen=True)
class Nil:
    pass


@dataclass(frozen=True)
class Dot:
    pass


@dataclass(frozen=True)
class Field:
    """``.A.B``: a field chain on dot."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class Variable:
    """``$x.A.B``: a variable and an optional field chain."""

    name: str
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Function:
    name: str


@dataclass(frozen=True)
class Chain:
    """``(pipeline).A.B`` or any other term followed by fields."""

    term: Operand
    names: tuple[str, ...]


@dataclass(frozen=True)
class Command:
    args: tuple[Operand, ...]


@dataclass(frozen=True)
class Pipeline:
    commands: tuple[Command, ...]
    decl: tuple[str, ...] = ()
    assign: bool = False  # ``=`` rather than ``:=``


Operand = Literal | Nil | Dot | Field | Variable | Function | Chain | Pipeline


@dataclass(frozen=True)
class Action:
    pipe: Pipeline
    line: int


@dataclass(frozen=True)
class Branch:
    """``if``, ``range`` or ``with``; ``orelse`` holds the else branch (maybe one nested Branch)."""

    keyword: str
    pipe: Pipeline
    body: tuple[Node, ...]
    orelse: tuple[Node, ...]
    line: int


@dataclass(frozen=True)
class Call:
    """``{{template "name" pipeline}}``."""

    name: str
    pipe: Pipeline | None
    line: int


@dataclass(frozen=True)
class LoopControl:
    keyword: str  # break or continue
    line: int


Node = Text | Action | Branch | Call | LoopControl


@dataclass
class Tree:
    """A parsed template: the main body and the templates it defines."""

    root: tuple[Node, ...]
    defined: dict[str, tuple[Node, ...]] = field(default_factory=dict)


# --- lexing ------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n]+)
  | (?P<raw>`[^`]*`)
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<char>'(?:[^'\\\n]|\\[^\n]+?)')
  | (?P<number>[+-]?(?:0[xX][0-9a-fA-F_.]*(?:[pP][+-]?[0-9_]+)?|0[bBoO][0-9a-fA-F_]+
        |(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9_]+)?)i?)
  | (?P<field>\.[^\W\d]\w*|\.(?![^\W\d]))
  | (?P<var>\$\w*)
  | (?P<ident>[^\W\d]\w*)
  | (?P<declare>:=)
  | (?P<assign>=)
  | (?P<punct>[|(),])
    """,
    re.VERBOSE,
)
_AFTER_WORD = set(_SPACE) | set(".,|:)(") | {""}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    spaced: bool  # whitespace came right before it


class _Lexer:
    """Splits a template into text and the token lists of its actions (with line numbers)."""

    def __init__(self, source: str) -> None:
        self.source = source

    def line_of(self, pos: int) -> int:
        return self.source.count("\n", 0, pos) + 1

    def items(self) -> list[tuple[str, str | list[_Token], int]]:
        src, pos = self.source, 0
        items: list[tuple[str, str | list[_Token], int]] = []
        while True:
            start = src.find("{{", pos)
            if start < 0:
                items.append(("text", src[pos:], self.line_of(pos)))
                return items
            text = src[pos:start]
            inner = start + 2
            if src[inner : inner + 1] == "-" and src[inner + 1 : inner + 2] in set(_SPACE):
                text, inner = text.rstrip(_SPACE), inner + 2
            items.append(("text", text, self.line_of(pos)))
            line = self.line_of(start)
            stripped = inner + len(src[inner:]) - len(src[inner:].lstrip(_SPACE))
            if src.startswith("/*", stripped) and stripped == inner:
                end = src.find("*/", inner + 2)
                if end < 0:
                    raise _error(line, "unclosed comment")
                pos, trim = self._close(end + 2, line, comment=True)
            else:
                tokens, pos, trim = self._action(inner, line)
                items.append(("action", tokens, line))
            if trim:
                while pos < len(src) and src[pos] in _SPACE:
                    pos += 1

    def _close(self, pos: int, line: int, *, comment: bool = False) -> tuple[int, bool]:
        src = self.source
        if src[pos : pos + 1] in set(_SPACE) and src.startswith("-}}", pos + 1):
            return pos + 4, True
        if src.startswith("}}", pos):
            return pos + 2, False
        raise _error(line, "comment ends before closing delimiter" if comment else "unclosed action")

    def _action(self, pos: int, line: int) -> tuple[list[_Token], int, bool]:
        src, spaced, depth = self.source, False, 0
        tokens: list[_Token] = []
        while True:
            if src[pos : pos + 1] in set(_SPACE) and src.startswith("-}}", pos + 1) and depth == 0:
                return tokens, pos + 4, True
            if src.startswith("}}", pos):
                if depth:
                    raise _error(line, "unclosed left paren")
                return tokens, pos + 2, False
            m = _TOKEN.match(src, pos)
            if m is None or pos >= len(src):
                what = repr(src[pos]) if pos < len(src) else "end of template"
                raise _error(line, f"unexpected {what} in command" if pos < len(src) else "unclosed action")
            kind, text = m.lastgroup or "", m.group()
            pos = m.end()
            if kind == "space":
                spaced = True
                continue
            word_end = kind in ("number", "ident", "field", "var")
            if word_end and src[pos : pos + 1] not in _AFTER_WORD and not src.startswith("}}", pos):
                raise _error(line, f"bad character {src[pos]!r} after {text!r}")
            if text == "(":
                depth += 1
                if depth > _MAX_PARENS:  # Go allows 10000; Python's stack allows fewer
                    raise _error(line, "max expression depth exceeded")
            elif text == ")":
                depth -= 1
                if depth < 0:
                    raise _error(line, "unexpected right paren")
            tokens.append(_Token(kind, text, spaced))
            spaced = False


def _error(line: int, message: str) -> TemplateError:
    return TemplateError(
        f"template: commit message:{line}: {message}", field="spec.git.commit.messageTemplate"
    )


# --- parsing -----------------------------------------------------------------------------


class _Parser:
    def __init__(self, source: str, functions: Container[str]) -> None:
        self.items = _Lexer(source).items()
        self.i = 0
        self.functions = functions
        self.tree = Tree(())
        self.vars: list[str] = ["$"]
        self.loops = 0

    def parse(self) -> Tree:
        body, stop = self._list(top=True)
        assert stop is None
        self.tree.root = body
        return self.tree

    def _list(self, *, top: bool = False) -> tuple[tuple[Node, ...], tuple[str, list[_Token], int] | None]:
        nodes: list[Node] = []
        while self.i < len(self.items):
            kind, value, line = self.items[self.i]
            self.i += 1
            if kind == "text":
                if value:
                    nodes.append(Text(str(value)))
                continue
            assert isinstance(value, list)
            tokens = value
            word = tokens[0].text if tokens and tokens[0].kind == "ident" else ""
            if word in ("end", "else"):
                if top:
                    raise _error(line, f"unexpected {{{{{word}}}}}")
                return tuple(nodes), (word, tokens[1:], line)
            if word in ("if", "range", "with"):
                nodes.append(self._branch(word, tokens[1:], line))
            elif word in ("break", "continue"):
                if not self.loops:
                    raise _error(line, f"{{{{{word}}}}} outside {{{{range}}}}")
                if len(tokens) > 1:
                    raise _error(line, f"unexpected {tokens[1].text!r} in {word}")
                nodes.append(LoopControl(word, line))
            elif word in ("define", "block"):
                nodes.extend(self._define(word, tokens[1:], line, top=top))
            elif word == "template":
                name, rest = self._template_name(tokens[1:], line, "template")
                nodes.append(Call(name, self._pipeline(rest, line, "template") if rest else None, line))
            elif not tokens:
                raise _error(line, "missing value for command")
            else:
                nodes.append(Action(self._pipeline(tokens, line, "command", allow_decl=True), line))
        if not top:
            raise _error(self.items[-1][2], "unexpected EOF")
        return tuple(nodes), None

    def _template_name(self, tokens: list[_Token], line: int, context: str) -> tuple[str, list[_Token]]:
        if not tokens or tokens[0].kind not in ("str", "raw"):
            raise _error(line, f"unexpected token in {context} clause: need a quoted template name")
        return _string_value(tokens[0].text, line), tokens[1:]

    def _define(self, word: str, tokens: list[_Token], line: int, *, top: bool) -> list[Node]:
        if word == "define" and not top:
            raise _error(line, "unexpected {{define}} inside a template body")
        name, rest = self._template_name(tokens, line, word)
        if word == "define" and rest:
            raise _error(line, f"unexpected {rest[0].text!r} in define clause")
        pipe = self._pipeline(rest, line, "block") if word == "block" else None
        saved, self.vars, loops = self.vars, ["$"], self.loops
        self.loops = 0
        body, stop = self._list()
        self.vars, self.loops = saved, loops
        if stop is None or stop[0] != "end" or stop[1]:
            raise _error(line, f"expected {{{{end}}}} to close {word} {name!r}")
        self.tree.defined[name] = body
        return [Call(name, pipe, line)] if word == "block" else []

    def _branch(self, keyword: str, tokens: list[_Token], line: int) -> Branch:
        mark = len(self.vars)
        pipe = self._pipeline(tokens, line, keyword, allow_decl=True)
        self.loops += keyword == "range"
        body, stop = self._list()
        self.loops -= keyword == "range"
        assert stop is not None
        orelse: tuple[Node, ...] = ()
        word, rest, else_line = stop
        if word == "else":
            if rest and rest[0].kind == "ident" and rest[0].text in ("if", "with"):
                if rest[0].text != keyword:
                    raise _error(else_line, f"{{{{else {rest[0].text}}}}} in a {{{{{keyword}}}}}")
                # {{else if x}}...{{end}} is an if nested in the else branch, sharing its end
                orelse = (self._branch(keyword, rest[1:], else_line),)
            elif rest:
                raise _error(else_line, f"unexpected {rest[0].text!r} in else")
            else:
                orelse, stop = self._list()
                assert stop is not None
                if stop[0] != "end":
                    raise _error(stop[2], f"expected end; found {{{{{stop[0]}}}}}")
                if stop[1]:
                    raise _error(stop[2], f"unexpected {stop[1][0].text!r} in end")
        elif rest:
            raise _error(else_line, f"unexpected {rest[0].text!r} in end")
        del self.vars[mark:]
        return Branch(keyword, pipe, body, orelse, line)

    def _pipeline(
        self, tokens: list[_Token], line: int, context: str, *, allow_decl: bool = False
    ) -> Pipeline:
        decl: list[str] = []
        assign = False
        op = next((n for n, t in enumerate(tokens) if t.kind in ("declare", "assign")), None)
        if op is not None and allow_decl and all(t.kind in ("var", "punct") for t in tokens[:op]):
            names = [t for t in tokens[:op] if t.kind == "var"]
            commas = [t for t in tokens[:op] if t.kind == "punct"]
            if not names or any(c.text != "," for c in commas) or len(commas) != len(names) - 1:
                raise _error(line, f"bad declaration in {context}")
            if len(names) > 2 or (len(names) == 2 and context != "range"):
                raise _error(line, "too many declarations in " + context)
            assign = tokens[op].kind == "assign"
            decl = [t.text for t in names]
            if assign:
                for name in decl:
                    self._check_var(name, line)
            tokens = tokens[op + 1 :]
        commands: list[Command] = []
        current: list[Operand] = []
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token.kind == "punct" and token.text == "|":
                commands.append(self._command(current, line, len(commands)))
                current, i = [], i + 1
                continue
            operand, i = self._operand(tokens, i, line)
            current.append(operand)
        commands.append(self._command(current, line, len(commands)))
        if not assign:
            self.vars.extend(decl)
        return Pipeline(tuple(commands), tuple(decl), assign)

    def _command(self, args: list[Operand], line: int, stage: int) -> Command:
        if not args:
            raise _error(line, "missing value for command")
        if stage and isinstance(args[0], Literal | Nil | Dot):
            raise _error(line, f"non executable command in pipeline stage {stage + 1}")
        if isinstance(args[0], Nil) and len(args) == 1 and stage == 0:
            raise _error(line, "nil is not a command")
        return Command(tuple(args))

    def _operand(self, tokens: list[_Token], i: int, line: int) -> tuple[Operand, int]:
        token = tokens[i]
        term: Operand
        if token.kind == "punct" and token.text == "(":
            depth, j = 1, i + 1
            while depth:
                if j >= len(tokens):
                    raise _error(line, "unclosed left paren")
                if tokens[j].kind == "punct":
                    depth += {"(": 1, ")": -1}.get(tokens[j].text, 0)
                j += 1
            term = self._pipeline(tokens[i + 1 : j - 1], line, "parenthesized pipeline")
            i = j
        else:
            term = self._term(token, line)
            i += 1
        names: list[str] = []
        while (
            i < len(tokens) and tokens[i].kind == "field" and not tokens[i].spaced and tokens[i].text != "."
        ):
            names.append(tokens[i].text[1:])
            i += 1
        if names:
            if isinstance(term, Field):
                term = Field(term.names + tuple(names))
            elif isinstance(term, Variable):
                term = Variable(term.name, term.names + tuple(names))
            elif isinstance(term, Literal | Nil):
                raise _error(line, f"unexpected . after term {tokens[i - len(names) - 1].text!r}")
            else:
                term = Chain(term, tuple(names))
        return term, i

    def _term(self, token: _Token, line: int) -> Operand:
        kind, text = token.kind, token.text
        if kind == "field":
            return Dot() if text == "." else Field((text[1:],))
        if kind == "var":
            self._check_var(text, line)
            return Variable(text)
        if kind in ("str", "raw"):
            return Literal(_string_value(text, line))
        if kind == "char":
            value = _string_value('"' + text[1:-1].replace('"', '\\"') + '"', line)
            if len(value) != 1:
                raise _error(line, f"malformed character constant: {text}")
            return Literal(ord(value), rune=True)
        if kind == "number":
            return Literal(_number(text, line))
        if kind == "ident":
            if text in ("true", "false"):
                return Literal(text == "true")
            if text == "nil":
                return Nil()
            if text in _KEYWORDS:
                raise _error(line, f"unexpected {text!r} in operand")
            if text not in self.functions:
                raise _error(line, f'function "{text}" not defined')
            return Function(text)
        raise _error(line, f"unexpected {text!r} in operand")

    def _check_var(self, name: str, line: int) -> None:
        if name not in self.vars:
            raise _error(line, f'undefined variable "{name}"')


def _string_value(text: str, line: int) -> str:
    if text.startswith("`"):
        return text[1:-1]
    try:
        value = ast.literal_eval(text)  # Go and Python agree on the escapes templates use
    except (SyntaxError, ValueError):
        raise _error(line, f"malformed string {text}") from None
    if not isinstance(value, str):
        raise _error(line, f"malformed string {text}")
    return value


def _number(text: str, line: int) -> int | float:
    if text.endswith("i"):
        raise _error(line, f"complex number {text} is not supported in commit templates")
    clean = text.replace("_", "")
    try:
        if re.fullmatch(r"[+-]?(?:0[xXbBoO][0-9a-fA-F]+|[0-9]+)", clean):
            digits = clean.lstrip("+-")
            octal = len(digits) > 1 and digits[0] == "0" and digits[1].isdigit()
            value = (
                int(clean, 8) if octal else int(clean, 0 if digits[:2].lower() in ("0x", "0b", "0o") else 10)
            )
            if not -(2**63) <= value < 2**63:
                raise _error(line, f'integer overflow: "{text}"')
            return value
        if clean.lower().startswith(("0x", "+0x", "-0x")):
            return float.fromhex(clean)
        return float(clean)
    except (ValueError, OverflowError):
        raise _error(line, f'illegal number syntax: "{text}"') from None


def parse(source: str, functions: Container[str]) -> Tree:
    """Parse ``source``; ``functions`` are the names a template may call."""
    try:
        return _Parser(source, functions).parse()
    except RecursionError:
        raise _error(1, "template nested too deeply") from None
