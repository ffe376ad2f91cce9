"""Go's text/template execution: fields, methods, maps, variables, functions, control flow.

Evaluation follows Go's rules where a commit message can tell: truth of values, map
ranges in sorted key order, ``<no value>`` for a missing map key, typed function
arguments, short-circuit ``and``/``or``, ``break``/``continue``. Bounds Go does not have
keep a hostile template from running away: a step budget, an output cap and a nesting
limit, each failing with a message that says which.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_flux_provider.images.gotemplate import gofmt
from airflow_flux_provider.images.gotemplate.gofmt import MISSING, go_type, sprint_value
from airflow_flux_provider.images.gotemplate.parse import (
    Action,
    Branch,
    Call,
    Chain,
    Command,
    Dot,
    Field,
    Function,
    Literal,
    Nil,
    Node,
    Operand,
    Pipeline,
    TemplateError,
    Text,
    Tree,
    Variable,
)

MAX_STEPS = 1_000_000
MAX_OUTPUT = 1 << 20
MAX_DEPTH = 100
_FIELD = "spec.git.commit.messageTemplate"


class FuncError(Exception):
    """What a Go template function returns as its error value."""


@dataclass(frozen=True)
class GoFunc:
    """A template function and its Go parameter types (see :func:`convert`)."""

    fn: Callable[..., Any]
    params: tuple[str, ...] = ()
    variadic: str | None = None


class _Stop(Exception):
    def __init__(self, keyword: str) -> None:
        self.keyword = keyword


def truth(value: Any) -> bool:
    """Go's ``template.IsTrue``: zero values (and empty collections) are false; structs are true."""
    if value is None or value is MISSING or value is False:
        return False
    if isinstance(value, int | float | str | bytes | Mapping | Sequence):
        return bool(value)
    return True


_BASIC = ("bool", "int", "float64", "string")


def _kind(value: Any) -> str:
    """Go's basic kind of a value for comparisons and typed arguments ("other" for the rest)."""
    kind = gofmt.go_kind(value)
    return kind if kind in _BASIC else "other"


def convert(value: Any, typ: str) -> Any:
    """Check ``value`` against a Go parameter type, as reflect's assignability does."""
    if value is MISSING:
        if typ in ("any", "list", "dict"):
            return None
        raise FuncError(f"invalid value; expected {_go_name(typ)}")
    ok = {
        "any": True,
        "string": isinstance(value, str),
        "int": _kind(value) == "int",
        "float64": _kind(value) == "float64",
        "bool": isinstance(value, bool),
        "list": isinstance(value, list | tuple) or value is None,
        "dict": value is None or (isinstance(value, Mapping) and go_type(value) == _go_name("dict")),
        "strings": isinstance(value, list | tuple) and all(isinstance(v, str) for v in value),
    }[typ]
    if not ok:
        raise FuncError(f"wrong type for value; expected {_go_name(typ)}; got {go_type(value)}")
    return value


def _go_name(typ: str) -> str:
    return {
        "any": "interface {}",
        "list": "[]interface {}",
        "dict": "map[string]interface {}",
        "strings": "[]string",
    }.get(typ, typ)


def _literal_arg(node: Literal, typ: str) -> Any:
    value = node.value
    if typ == "float64" and _kind(value) == "int":
        return float(value)  # type: ignore[arg-type]
    if typ == "any":
        return value
    if typ in _BASIC and _kind(value) != typ:
        raise FuncError(f"expected {typ}; found {sprint_value(value)}")
    return convert(value, typ)


def _equal(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    ka, kb = _kind(a), _kind(b)
    if ka == "other" or kb == "other":
        if isinstance(a, Mapping | list) or isinstance(b, Mapping | list):
            raise FuncError(f"non-comparable type {gofmt.go_type(a if ka == 'other' else b)}")
        if type(a) is not type(b):
            raise FuncError("incompatible types for comparison")
        return bool(a == b)
    if ka != kb:
        raise FuncError("incompatible types for comparison")
    return bool(a == b)


def _eq(first: Any, *others: Any) -> bool:
    if not others:
        raise FuncError("missing argument for comparison")
    return any(_equal(first, other) for other in others)


def _less(a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka in ("bool", "other") or kb in ("bool", "other"):
        raise FuncError(f"invalid type for comparison: {go_type(a if ka in ('bool', 'other') else b)}")
    if ka != kb:
        raise FuncError("incompatible types for comparison")
    return bool(a < b)


def _len(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())  # Go counts bytes
    if isinstance(value, bytes | Mapping | list | tuple):
        return len(value)
    raise FuncError(f"len of type {go_type(value)}")


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if item is None:
            raise FuncError("index of untyped nil")
        if isinstance(item, Mapping):
            item = item[key] if key in item else getattr(item, "zero", None)
        elif isinstance(item, str | bytes | list | tuple):
            if _kind(key) != "int":
                raise FuncError(f"cannot index slice/array with type {go_type(key)}")
            if not 0 <= key < len(item):
                raise FuncError(f"index out of range: {key}")
            item = item.encode()[key] if isinstance(item, str) else item[key]
        else:
            raise FuncError(f"can't index item of type {go_type(item)}")
    return item


def _js(*args: Any) -> str:
    text = gofmt.sprint(*args)
    table = {
        "\\": "\\\\",
        "'": "\\'",
        '"': '\\"',
        "<": "\\u003C",
        ">": "\\u003E",
        "&": "\\u0026",
        "=": "\\u003D",
    }
    return "".join(table.get(c, c if c.isprintable() else f"\\u{ord(c):04X}") for c in text)


_HTML = {"<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&#39;", '"': "&#34;", "\0": "\ufffd"}


def _call_builtin(fn: Any, *args: Any) -> Any:
    """Template data holds no functions, so ``call`` has nothing it may call."""
    raise FuncError(f"non-function of type {go_type(fn)}")


BUILTINS: dict[str, GoFunc] = {
    "and": GoFunc(lambda *a: a, ("any",), "any"),  # evaluated lazily in _call
    "or": GoFunc(lambda *a: a, ("any",), "any"),
    "not": GoFunc(lambda v: not truth(v), ("any",)),
    "len": GoFunc(_len, ("any",)),
    "index": GoFunc(_index, ("any",), "any"),
    "print": GoFunc(gofmt.sprint, (), "any"),
    "printf": GoFunc(gofmt.sprintf, ("string",), "any"),
    "println": GoFunc(gofmt.sprintln, (), "any"),
    "eq": GoFunc(_eq, ("any",), "any"),
    "ne": GoFunc(lambda a, b: not _equal(a, b), ("any", "any")),
    "lt": GoFunc(_less, ("any", "any")),
    "le": GoFunc(lambda a, b: _less(a, b) or _equal(a, b), ("any", "any")),
    "gt": GoFunc(lambda a, b: not (_less(a, b) or _equal(a, b)), ("any", "any")),
    "ge": GoFunc(lambda a, b: not _less(a, b), ("any", "any")),
    "html": GoFunc(lambda *a: "".join(_HTML.get(c, c) for c in gofmt.sprint(*a)), (), "any"),
    "js": GoFunc(_js, (), "any"),
    "urlquery": GoFunc(lambda *a: urllib.parse.quote_plus(gofmt.sprint(*a)), (), "any"),
    "call": GoFunc(_call_builtin, ("any",), "any"),
}


class Executor:
    """Runs a parsed :class:`Tree` over ``data`` with a function map."""

    def __init__(self, tree: Tree, functions: Mapping[str, GoFunc]) -> None:
        self.tree, self.functions = tree, functions
        self.out: list[str] = []
        self.size = 0
        self.steps = 0
        self.depth = 0
        self.vars: list[tuple[str, Any]] = []

    def run(self, data: Any) -> str:
        self.vars = [("$", data)]
        try:
            self._walk(self.tree.root, data)
        except RecursionError:
            raise _exec_error(0, "template nested too deeply") from None
        return "".join(self.out)

    # -- nodes

    def _walk(self, nodes: tuple[Node, ...], dot: Any) -> None:
        for node in nodes:
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise _exec_error(0, f"template runs more than {MAX_STEPS} steps; simplify it")
            if isinstance(node, Text):
                self._emit(node.text)
            elif isinstance(node, Action):
                value = self._pipeline(node.pipe, dot, node.line)
                if not node.pipe.decl:
                    self._emit(_printable(value, node.line))
            elif isinstance(node, Branch):
                self._branch(node, dot)
            elif isinstance(node, Call):
                self._call_template(node, dot)
            else:
                raise _Stop(node.keyword)

    def _emit(self, text: str) -> None:
        self.size += len(text)
        if self.size > MAX_OUTPUT:
            raise _exec_error(0, f"the message is longer than {MAX_OUTPUT} characters; shorten the template")
        self.out.append(text)

    def _branch(self, node: Branch, dot: Any) -> None:
        mark = len(self.vars)
        value = self._pipeline(node.pipe, dot, node.line)
        try:
            if node.keyword == "range":
                self._range(node, value, dot, mark)
            elif truth(value):
                self._walk(node.body, value if node.keyword == "with" else dot)
            else:
                self._walk(node.orelse, dot)
        finally:
            del self.vars[mark:]

    def _range(self, node: Branch, value: Any, dot: Any, mark: int) -> None:
        items = _range_items(value, node.line)
        decl = node.pipe.decl
        if len(decl) == 2 and isinstance(value, int):
            raise _exec_error(node.line, f"can't use {value} to iterate over more than one variable")
        for key, element in items:
            del self.vars[mark:]
            if len(decl) == 1:
                self.vars.append((decl[0], element))
            elif len(decl) == 2:
                self.vars += [(decl[0], key), (decl[1], element)]
            try:
                self._walk(node.body, element)
            except _Stop as stop:
                if stop.keyword == "break":
                    break
        del self.vars[mark:]
        if not items:
            self._walk(node.orelse, dot)

    def _call_template(self, node: Call, dot: Any) -> None:
        body = self.tree.defined.get(node.name)
        if body is None:
            raise _exec_error(node.line, f'no such template "{node.name}"')
        value = self._pipeline(node.pipe, dot, node.line) if node.pipe else None
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _exec_error(node.line, f"exceeded maximum template depth ({MAX_DEPTH})")
        saved, self.vars = self.vars, [("$", value)]
        try:
            self._walk(body, value)
        finally:
            self.vars, self.depth = saved, self.depth - 1

    # -- pipelines

    def _pipeline(self, pipe: Pipeline, dot: Any, line: int) -> Any:
        value: Any = None
        final: Any = _NO_FINAL
        for command in pipe.commands:
            value = self._command(command, dot, final, line)
            final = value
        for name in pipe.decl[-1:] if len(pipe.decl) == 1 else ():
            if pipe.assign:
                self._set(name, value)
            else:
                self.vars.append((name, value))
        return value

    def _set(self, name: str, value: Any) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return

    def _lookup(self, name: str, line: int) -> Any:
        for var, value in reversed(self.vars):
            if var == name:
                return value
        raise _exec_error(line, f"undefined variable: {name}")

    def _command(self, command: Command, dot: Any, final: Any, line: int) -> Any:
        head, args = command.args[0], command.args[1:]
        if isinstance(head, Function):
            return self._call(head.name, args, dot, final, line)
        if isinstance(head, Field):
            return self._fields(dot, head.names, args, dot, final, line)
        if isinstance(head, Variable):
            value = self._lookup(head.name, line)
            if not head.names:
                self._no_args(head.name, args, final, line)
                return value
            return self._fields(value, head.names, args, dot, final, line)
        if isinstance(head, Chain):
            base = self._operand(head.term, dot, line)
            return self._fields(base, head.names, args, dot, final, line)
        self._no_args(_describe(head), args, final, line)
        return self._operand(head, dot, line)

    def _no_args(self, what: str, args: tuple[Operand, ...], final: Any, line: int) -> None:
        if args or final is not _NO_FINAL:
            raise _exec_error(line, f"can't give argument to non-function {what}")

    def _operand(self, node: Operand, dot: Any, line: int) -> Any:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Nil):
            raise _exec_error(line, "nil is not a command")
        if isinstance(node, Dot):
            return dot
        if isinstance(node, Pipeline):
            return self._pipeline(node, dot, line)
        return self._command(Command((node,)), dot, _NO_FINAL, line)

    def _fields(
        self,
        receiver: Any,
        names: tuple[str, ...],
        args: tuple[Operand, ...],
        dot: Any,
        final: Any,
        line: int,
    ) -> Any:
        for n, name in enumerate(names):
            last = n == len(names) - 1
            receiver = self._field(
                receiver, name, args if last else (), dot, final if last else _NO_FINAL, line
            )
        return receiver

    def _field(
        self, receiver: Any, name: str, args: tuple[Operand, ...], dot: Any, final: Any, line: int
    ) -> Any:
        has_args = bool(args) or final is not _NO_FINAL
        if receiver is None or receiver is MISSING:
            raise _exec_error(line, f"nil pointer evaluating {go_type(receiver)}.{name}")
        if isinstance(receiver, Mapping):
            if has_args:
                raise _exec_error(line, f"{name} is not a method but has arguments")
            return receiver.get(name, MISSING)
        member = getattr(type(receiver), name, None)
        exposed = (
            gofmt.is_struct(receiver)
            and name[:1].isupper()
            and (isinstance(member, property) or name in {f.name for f in dataclasses.fields(receiver)})
        )
        if not exposed:
            raise _exec_error(line, f"can't evaluate field {name} in type {go_type(receiver)}")
        if has_args:
            raise _exec_error(line, f"{name} has arguments but cannot be invoked as function")
        return getattr(receiver, name)

    def _arg(self, node: Operand, typ: str, dot: Any, line: int) -> Any:
        try:
            if isinstance(node, Literal):
                return _literal_arg(node, typ)
            if isinstance(node, Nil):
                if typ in ("any", "list", "dict"):
                    return None
                raise FuncError(f"cannot assign nil to {typ}")
            return convert(self._operand(node, dot, line), typ)
        except FuncError as err:
            raise _exec_error(line, str(err)) from None

    def _call(self, name: str, args: tuple[Operand, ...], dot: Any, final: Any, line: int) -> Any:
        func = self.functions[name]
        operands: list[Any] = list(args)
        if final is not _NO_FINAL:
            operands.append(_Evaluated(final))
        want = len(func.params)
        if len(operands) < want or (func.variadic is None and len(operands) > want):
            expected = f"at least {want}" if func.variadic else str(want)
            raise _exec_error(line, f"wrong number of args for {name}: want {expected} got {len(operands)}")
        if name in ("and", "or"):
            value: Any = None
            for operand in operands:
                value = self._value(operand, "any", dot, line)
                if truth(value) != (name == "and"):
                    return value
            return value
        values = [
            self._value(operand, func.params[i] if i < want else str(func.variadic), dot, line)
            for i, operand in enumerate(operands)
        ]
        try:
            return func.fn(*values)
        except FuncError as err:
            raise _exec_error(line, f"error calling {name}: {err}") from None
        except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError, OverflowError) as err:
            raise _exec_error(line, f"error calling {name}: {err}") from None

    def _value(self, operand: Any, typ: str, dot: Any, line: int) -> Any:
        if isinstance(operand, _Evaluated):
            try:
                return convert(operand.value, typ)
            except FuncError as err:
                raise _exec_error(line, str(err)) from None
        return self._arg(operand, typ, dot, line)


@dataclass(frozen=True)
class _Evaluated:
    """The previous pipeline stage's value, passed as the last argument."""

    value: Any


_NO_FINAL = object()


def _describe(node: Operand) -> str:
    if isinstance(node, Literal):
        return gofmt.go_quote(node.value) if isinstance(node.value, str) else sprint_value(node.value)
    return "." if isinstance(node, Dot) else type(node).__name__.lower()


def _printable(value: Any, line: int) -> str:
    if callable(value) and not gofmt.is_struct(value):
        raise _exec_error(line, f"can't print value of type {go_type(value)}")
    return sprint_value(value)


def _range_items(value: Any, line: int) -> list[tuple[Any, Any]]:
    if value is None or value is MISSING:
        return []
    if isinstance(value, Mapping):
        return gofmt.sorted_items(value)
    if isinstance(value, list | tuple):
        return list(enumerate(value))
    if _kind(value) == "int":
        if value > MAX_STEPS:
            raise _exec_error(line, f"range over {value} runs more than {MAX_STEPS} steps; simplify it")
        return [(i, i) for i in range(value)]
    raise _exec_error(line, f"range can't iterate over {sprint_value(value)}")


def _exec_error(line: int, message: str) -> TemplateError:
    where = f"template: commit message:{line}: " if line else "template: commit message: "
    return TemplateError(where + message, field=_FIELD)
