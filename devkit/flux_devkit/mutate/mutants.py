"""AST mutants of one module: each is one small change a regression could make.

Mutants are numbered in the order one traversal of the module meets them, so the same source
always gives the same numbering: the runner lists them and a forked test process rebuilds
mutant ``n`` from the file alone. What is not mutated, and why: docstrings, annotations (not
evaluated at run time), ``__all__``, decorators and class bases (a class cannot be re-created
in place under the warm runner, see plugin.py), the literal text of f-strings and log calls
(their wording is not behaviour a user relies on; the values put into them are).
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_BINARY_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.Mult,
    ast.BitOr: ast.BitAnd,
    ast.BitAnd: ast.BitOr,
}
_SYMBOLS: dict[type[ast.AST], str] = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.BitOr: "|", ast.BitAnd: "&", ast.And: "and", ast.Or: "or",
}  # fmt: skip
_LOG_METHODS = frozenset({"debug", "info", "warning", "error", "exception", "critical"})
_LOGGERS = frozenset({"log", "logger", "_log", "_logger", "LOG"})


@dataclass(frozen=True)
class Mutant:
    """One change: where it is, what it does, and which function (if any) holds it."""

    number: int
    line: int
    end_line: int
    anchor: int  # first line of the innermost statement holding it
    change: str  # e.g. "`<` -> `<=`"
    source_line: str  # the stripped first source line, the key of the exclusion list
    function: str | None  # qualified name of the outermost function whose body holds it
    statement: tuple[int, ...]  # path of body indexes to the top-level (or class-level) statement

    def describe(self) -> str:
        return f"#{self.number} line {self.line}: {self.change}  | {self.source_line}"


Rewrite = Callable[[ast.AST], ast.AST]


class _Walker(ast.NodeTransformer):
    """Visits in a fixed order, numbering mutation sites; applies number ``target`` if given."""

    def __init__(self, lines: list[str], target: int | None) -> None:
        self.lines = lines
        self.target = target
        self.found: list[Mutant] = []
        self._scope: list[str] = []  # class/def names down to here
        self._function: str | None = None
        self._statement: tuple[int, ...] = ()
        self._anchor = 0

    def _expr(self, node: ast.expr) -> ast.expr:
        new = self.visit(node)
        assert isinstance(new, ast.expr)
        return new

    def visit(self, node: ast.AST) -> ast.AST:
        if not isinstance(node, ast.stmt):
            return super().visit(node)
        outer, self._anchor = self._anchor, node.lineno
        try:
            return super().visit(node)
        finally:
            self._anchor = outer

    # -- numbering -------------------------------------------------------------------------
    def _site(self, node: ast.AST, change: str, rewrite: Rewrite) -> Rewrite | None:
        number = len(self.found)
        line = getattr(node, "lineno", 0)
        self.found.append(
            Mutant(
                number=number,
                line=line,
                end_line=getattr(node, "end_lineno", line) or line,
                anchor=self._anchor,
                change=change,
                source_line=self.lines[line - 1].strip() if line else "",
                function=self._function,
                statement=self._statement,
            )
        )
        return rewrite if number == self.target else None

    def _visit_sites(self, node: ast.AST, sites: list[tuple[str, Rewrite]]) -> ast.AST:
        chosen = [rewrite for change, r in sites if (rewrite := self._site(node, change, r))]
        result = self.generic_visit(node)
        return chosen[0](result) if chosen else result

    # -- structure: skip what is not behaviour, track where we are ---------------------------
    def _body(self, statements: list[ast.stmt], top: bool) -> list[ast.stmt]:
        kept: list[ast.stmt] = []
        for index, statement in enumerate(statements):
            if index == 0 and _is_docstring(statement):
                kept.append(statement)
                continue
            outer = self._statement
            if top:
                self._statement = (*outer, index)
            new = self.visit(statement)
            assert isinstance(new, ast.stmt)
            self._statement = outer
            kept.append(new)
        return kept

    def visit_Module(self, node: ast.Module) -> ast.AST:
        node.body = self._body(node.body, top=True)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self._scope.append(node.name)
        node.body = self._body(node.body, top=self._function is None)
        self._scope.pop()
        return node

    def _function_def(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        node.args = self._arguments(node.args)
        self._scope.append(node.name)
        outer = self._function
        if outer is None:
            self._function = ".".join(self._scope)
        node.body = self._body(node.body, top=False)
        self._function = outer
        self._scope.pop()
        return node

    visit_FunctionDef = _function_def
    visit_AsyncFunctionDef = _function_def

    def _arguments(self, args: ast.arguments) -> ast.arguments:
        args.defaults = [self._expr(d) for d in args.defaults]
        args.kw_defaults = [None if d is None else self._expr(d) for d in args.kw_defaults]
        return args

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return node
        return self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if node.value is not None:
            node.value = self._expr(node.value)
        return node

    def visit_If(self, node: ast.If) -> ast.AST:
        if _is_type_checking(node.test):
            return node
        return self._visit_sites(node, [("negate condition", _negate_test)])

    def visit_While(self, node: ast.While) -> ast.AST:
        return self._visit_sites(node, [("negate condition", _negate_test)])

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        return self._visit_sites(node, [("negate condition", _negate_test)])

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        node.values = [self._expr(v) if isinstance(v, ast.FormattedValue) else v for v in node.values]
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        node.value = self._expr(node.value)
        return node

    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        if _is_log_call(node.value) or isinstance(node.value, ast.Constant):
            return node
        return self._visit_sites(node, [("remove statement", _to_pass)])

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if _is_log_call(node):
            return node
        return self.generic_visit(node)

    # -- mutation sites ----------------------------------------------------------------------
    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        sites = []
        for index, op in enumerate(node.ops):
            swap = _COMPARE_SWAPS[type(op)]
            sites.append((f"`{_SYMBOLS[type(op)]}` -> `{_SYMBOLS[swap]}`", _replace_op(index, swap)))
        return self._visit_sites(node, sites)

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        swap: type[ast.boolop] = ast.Or if isinstance(node.op, ast.And) else ast.And
        return self._visit_sites(
            node, [(f"`{_SYMBOLS[type(node.op)]}` -> `{_SYMBOLS[swap]}`", _set_op(swap))]
        )

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        return self._visit_sites(node, _operator_sites(node.op))

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        sites = [*_operator_sites(node.op), ("remove statement", _to_pass)]
        chosen = [rewrite for change, r in sites if (rewrite := self._site(node, change, r))]
        node.value = self._expr(node.value)
        return chosen[0](node) if chosen else node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        if isinstance(node.op, ast.Not):
            return self._visit_sites(node, [("remove `not`", _operand)])
        if isinstance(node.op, ast.USub):
            return self._visit_sites(node, [("remove unary `-`", _operand)])
        return self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        if isinstance(value, bool):
            return self._visit_sites(node, [(f"`{value}` -> `{not value}`", _constant(not value))])
        if isinstance(value, int | float):
            return self._visit_sites(node, [(f"`{value!r}` -> `{value + 1!r}`", _constant(value + 1))])
        if isinstance(value, str):
            new = "" if value else "XX"
            return self._visit_sites(node, [(f"string {_short(value)} -> {_short(new)}", _constant(new))])
        return node

    def visit_Return(self, node: ast.Return) -> ast.AST:
        if node.value is None or (isinstance(node.value, ast.Constant) and node.value.value is None):
            return self.generic_visit(node)
        return self._visit_sites(node, [("return None", _return_none)])

    def visit_Raise(self, node: ast.Raise) -> ast.AST:
        return self._visit_sites(node, [("remove raise", _to_pass)])

    def visit_Break(self, node: ast.Break) -> ast.AST:
        return self._visit_sites(node, [("remove break", _to_pass)])

    def visit_Continue(self, node: ast.Continue) -> ast.AST:
        return self._visit_sites(node, [("remove continue", _to_pass)])


def _short(text: str) -> str:
    return repr(text if len(text) <= 24 else text[:21] + "...")


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _is_log_call(node: ast.AST) -> bool:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return False
    owner = node.func.value
    name = owner.attr if isinstance(owner, ast.Attribute) else owner.id if isinstance(owner, ast.Name) else ""
    return node.func.attr in _LOG_METHODS and name in _LOGGERS


def _operator_sites(op: ast.operator) -> list[tuple[str, Rewrite]]:
    swap = _BINARY_SWAPS.get(type(op))
    if swap is None:
        return []
    return [(f"`{_SYMBOLS[type(op)]}` -> `{_SYMBOLS[swap]}`", _set_op(swap))]


def _replace_op(index: int, op: type[ast.cmpop]) -> Rewrite:
    def rewrite(node: ast.AST) -> ast.AST:
        assert isinstance(node, ast.Compare)
        node.ops[index] = op()
        return node

    return rewrite


def _set_op(op: type[ast.AST]) -> Rewrite:
    def rewrite(node: ast.AST) -> ast.AST:
        node.op = op()  # type: ignore[attr-defined]
        return node

    return rewrite


def _constant(value: str | bool | int | float) -> Rewrite:
    return lambda node: ast.copy_location(ast.Constant(value), node)


def _negate_test(node: ast.AST) -> ast.AST:
    test = node.test  # type: ignore[attr-defined]
    node.test = ast.copy_location(ast.UnaryOp(ast.Not(), test), test)  # type: ignore[attr-defined]
    return node


def _operand(node: ast.AST) -> ast.AST:
    assert isinstance(node, ast.UnaryOp)
    return node.operand


def _to_pass(node: ast.AST) -> ast.AST:
    return ast.copy_location(ast.Pass(), node)


def _return_none(node: ast.AST) -> ast.AST:
    return ast.copy_location(ast.Return(ast.Constant(None)), node)


def list_mutants(path: Path) -> list[Mutant]:
    """Every mutant of the module at ``path``, in number order."""
    source = path.read_text(encoding="utf-8")
    walker = _Walker(source.splitlines(), target=None)
    walker.visit(ast.parse(source, filename=str(path)))
    return walker.found


def mutated_tree(path: Path, number: int) -> ast.Module:
    """The module's AST with mutant ``number`` applied (line numbers kept)."""
    source = path.read_text(encoding="utf-8")
    walker = _Walker(source.splitlines(), target=number)
    tree = walker.visit(copy.deepcopy(ast.parse(source, filename=str(path))))
    assert isinstance(tree, ast.Module)
    return ast.fix_missing_locations(tree)
