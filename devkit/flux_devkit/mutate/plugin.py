"""pytest plugin that runs every mutant of one module inside one warm test session.

The session collects the focused tests and runs them once, recording which lines of the module
each test executes; session fixtures (the sandbox API server, service processes) stay up.
Then, per mutant, it forks: the child patches the mutant into the already imported module
(a function's code object is swapped, so every reference to the function sees it; a
module- or class-level statement is executed again) and runs only the tests that executed
the mutated lines, stopping at the first failure. The parent never runs mutated code, so it
stays clean for the next fork; a child that outlives its time budget is killed with its
process group. Active only when ``FLUX_MUTATE_MODULE`` is set (``python -m flux_devkit.mutate``).
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import json
import os
import signal
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _pytest.runner import runtestprotocol

from flux_devkit.mutate.mutants import Mutant, list_mutants, mutated_tree

# Child exit statuses.
_SURVIVED, _KILLED, _UNAPPLIED = 0, 1, 3


class Unapplied(Exception):
    """The mutant cannot be patched into a live module (e.g. a changed class decorator)."""


class LineTracer:
    """The lines of one file each test executes (sys.settrace, this file's frames only)."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.lines: set[int] = set()

    def _global(self, frame: types.FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename != self.filename:
            return None
        self.lines.add(frame.f_lineno)
        return self._local

    def _local(self, frame: types.FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            self.lines.add(frame.f_lineno)
        return self._local

    @contextlib.contextmanager
    def record(self) -> Iterator[set[int]]:
        self.lines = set()
        threading.settrace(self._global)
        sys.settrace(self._global)
        try:
            yield self.lines
        finally:
            sys.settrace(None)
            threading.settrace(None)


def _live_functions(module: types.ModuleType) -> dict[tuple[str, int], types.FunctionType]:
    """Every function the module defines, by (qualified name, first line), unwrapped."""
    found: dict[tuple[str, int], types.FunctionType] = {}
    seen: set[int] = set()

    def add(obj: object) -> None:
        for inner in (obj, getattr(obj, "__func__", None), getattr(obj, "func", None)):
            while inner is not None and hasattr(inner, "__wrapped__"):
                inner = inner.__wrapped__
            if isinstance(inner, types.FunctionType) and inner.__module__ == module.__name__:
                found[(inner.__code__.co_qualname, inner.__code__.co_firstlineno)] = inner
        if isinstance(obj, property):
            for accessor in (obj.fget, obj.fset, obj.fdel):
                add(accessor)
        if isinstance(obj, type) and obj.__module__ == module.__name__ and id(obj) not in seen:
            seen.add(id(obj))
            for member in vars(obj).values():
                add(member)

    for value in list(vars(module).values()):
        add(value)
    return found


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _clear_caches(module: types.ModuleType) -> None:
    """Drop results the clean module cached in the parent (functools.cache and friends)."""
    for value in vars(module).values():
        members = vars(value).values() if isinstance(value, type) else (value,)
        for member in members:
            clear = getattr(getattr(member, "__func__", member), "cache_clear", None)
            if callable(clear):
                clear()


def apply(module: types.ModuleType, path: Path, mutant: Mutant) -> None:
    """Patch ``mutant`` into the live ``module`` (raises Unapplied when it cannot)."""
    tree = mutated_tree(path, mutant.number)
    if mutant.function is not None:
        live = {key: fn for key, fn in _live_functions(module).items() if key[0] == mutant.function}
        codes = [c for c in _codes(compile(tree, str(path), "exec")) if c.co_qualname == mutant.function]
        swapped = 0
        for code in codes:
            target = live.get((code.co_qualname, code.co_firstlineno))
            if target is not None and target.__code__ != code:
                target.__code__ = code
                swapped += 1
        if not swapped:
            raise Unapplied(f"no live function {mutant.function} to patch")
    else:
        _apply_statement(module, path, tree, mutant.statement)
    _clear_caches(module)


def _apply_statement(module: types.ModuleType, path: Path, tree: ast.Module, where: tuple[int, ...]) -> None:
    statement: ast.stmt = tree.body[where[0]]
    owner: type | None = None
    if len(where) == 2:
        if not isinstance(statement, ast.ClassDef):
            raise Unapplied("a nested statement outside a class")
        owner = getattr(module, statement.name)
        statement = statement.body[where[1]]
    elif isinstance(statement, ast.ClassDef):
        raise Unapplied("a class decorator or base")
    scratch: dict[str, Any] = {}
    exec(compile(ast.Module([statement], []), str(path), "exec"), vars(module), scratch)
    if owner is None:  # constants derived from the mutated one (a regex built from a pattern)
        later: list[ast.stmt] = [
            s for s in tree.body[where[0] + 1 :] if isinstance(s, ast.Assign | ast.AnnAssign)
        ]
        exec(compile(ast.Module(later, []), str(path), "exec"), vars(module), scratch)
    for name, value in scratch.items():
        old = getattr(owner if owner is not None else module, name, None)
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            _copy_defaults(old, value)
        elif owner is None:
            setattr(module, name, value)
        else:
            _set_class_attribute(owner, name, value)
    if owner is None and not isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
        _refresh_defaults(module, tree)


def _refresh_defaults(module: types.ModuleType, tree: ast.Module) -> None:
    """Evaluate the defaults of the module's functions and methods again (``limit=SOME_CONSTANT``
    is bound when the ``def`` runs, so a changed constant would not reach it otherwise)."""
    live = _live_functions(module)
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if not (node.args.defaults or any(node.args.kw_defaults)):
            continue
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        for (_, line), function in live.items():
            if line != first or function.__code__.co_name != node.name:
                continue
            try:
                _set_defaults(function, node, module)
            except NameError:  # a default naming a class attribute: left as it was
                continue


def _set_defaults(
    function: types.FunctionType, node: ast.FunctionDef | ast.AsyncFunctionDef, module: Any
) -> None:
    if node.args.defaults:
        function.__defaults__ = tuple(_evaluate(d, module) for d in node.args.defaults)
    if any(node.args.kw_defaults):
        names = [a.arg for a in node.args.kwonlyargs]
        function.__kwdefaults__ = {
            n: _evaluate(d, module) for n, d in zip(names, node.args.kw_defaults, strict=True) if d
        }


def _evaluate(expression: ast.expr, module: types.ModuleType) -> Any:
    return eval(compile(ast.Expression(expression), "<default>", "eval"), vars(module))


def _copy_defaults(old: Any, new: Any) -> None:
    old_fn = getattr(old, "__func__", old)
    new_fn = getattr(new, "__func__", new)
    if not (isinstance(old_fn, types.FunctionType) and isinstance(new_fn, types.FunctionType)):
        raise Unapplied("a decorated function's decoration")
    if old_fn.__code__.co_name != new_fn.__code__.co_name:
        raise Unapplied("the decorator replaced the function")
    old_fn.__defaults__, old_fn.__kwdefaults__ = new_fn.__defaults__, new_fn.__kwdefaults__


def _set_class_attribute(owner: type, name: str, value: Any) -> None:
    if name == "__slots__":
        raise Unapplied("__slots__ is read once, when the class is created")
    # dataclass fields proper (not ClassVars, which are plain class attributes)
    fields = {f.name: f for f in dataclasses.fields(owner)} if dataclasses.is_dataclass(owner) else None
    if hasattr(owner, "model_fields") or isinstance(value, dataclasses.Field):
        raise Unapplied("a model field definition")
    if fields is not None and name in fields:
        old = fields[name].default
        fields[name].default = value
        init = owner.__init__  # type: ignore[misc]
        names = init.__code__.co_varnames[: init.__code__.co_argcount]
        defaults = list(init.__defaults__ or ())
        offset = len(names) - len(defaults)
        if name in names[offset:] and defaults[names.index(name) - offset] is old:
            defaults[names.index(name) - offset] = value
            init.__defaults__ = tuple(defaults)
        elif init.__kwdefaults__ and name in init.__kwdefaults__:
            init.__kwdefaults__[name] = value
        else:
            raise Unapplied("a dataclass default not in __init__")
        return
    try:
        setattr(owner, name, value)
    except (AttributeError, TypeError) as error:
        raise Unapplied(f"class attribute {name}: {error}") from error


@dataclasses.dataclass
class Outcome:
    """What happened to one mutant."""

    number: int
    status: str  # killed | survived | timeout | uncovered | unapplied
    tests: int
    seconds: float


class MutationSession:
    """Baseline with line recording, then one forked child per mutant."""

    def __init__(self, config: pytest.Config, module_path: Path, report: Path, only: set[int] | None) -> None:
        self.config = config
        self.path = module_path.resolve()
        self.report = report
        self.only = only

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        items = list(session.items)
        if not items:
            raise pytest.UsageError("no tests selected for the mutation run")
        module = next(
            (
                m
                for m in list(sys.modules.values())
                if Path(getattr(m, "__file__", "") or "/").resolve() == self.path
            ),
            None,
        )
        if module is None:
            raise pytest.UsageError(f"the selected tests never import {self.path}")
        tracer = LineTracer(str(module.__file__))
        executed: dict[str, set[int]] = {}
        seconds: dict[str, float] = {}
        for index, item in enumerate(items):
            start = time.monotonic()
            with tracer.record() as lines:
                reports = runtestprotocol(item, nextitem=_after(items, index), log=True)
            seconds[item.nodeid] = time.monotonic() - start
            executed[item.nodeid] = set(lines)
            if any(r.failed for r in reports):
                raise pytest.UsageError(f"the clean module fails {item.nodeid}: fix the baseline first")
        mutants = [m for m in list_mutants(self.path) if self.only is None or m.number in self.only]
        outcomes = [self._run(module, items, executed, seconds, mutant) for mutant in mutants]
        session._setupstate.teardown_exact(None)
        self.report.write_text(json.dumps([dataclasses.asdict(o) for o in outcomes]), encoding="utf-8")
        return True

    def _run(
        self,
        module: types.ModuleType,
        items: list[pytest.Item],
        executed: dict[str, set[int]],
        seconds: dict[str, float],
        mutant: Mutant,
    ) -> Outcome:
        if mutant.function is None:
            selected = items
        else:
            lines = {*range(mutant.line, mutant.end_line + 1), mutant.anchor}
            selected = [item for item in items if executed[item.nodeid] & lines]
        if not selected:
            return self._log(mutant, Outcome(mutant.number, "uncovered", 0, 0.0))
        selected.sort(key=lambda item: seconds[item.nodeid])  # the quick tests kill most mutants
        budget = 10 + 3 * sum(seconds[item.nodeid] for item in selected)
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            os.setpgid(0, 0)
            os._exit(self._child(module, items, selected, mutant))
        status = _wait(pid, budget)
        elapsed = time.monotonic() - start
        name = {None: "timeout", _SURVIVED: "survived", _KILLED: "killed", _UNAPPLIED: "unapplied"}.get(
            status, "killed"
        )
        return self._log(mutant, Outcome(mutant.number, name, len(selected), round(elapsed, 2)))

    def _child(
        self, module: types.ModuleType, items: list[pytest.Item], selected: list[pytest.Item], mutant: Mutant
    ) -> int:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        try:
            apply(module, self.path, mutant)
        except Unapplied:
            return _UNAPPLIED
        except Exception:
            return _KILLED  # the mutant does not even load
        sentinel = items[0] if selected[-1] is not items[0] else items[-1]
        for index, item in enumerate(selected):
            later = selected[index + 1] if index + 1 < len(selected) else sentinel
            reports = runtestprotocol(item, nextitem=later, log=False)
            if any(r.failed for r in reports):
                item.session._setupstate.teardown_exact(sentinel)
                return _KILLED
        return _SURVIVED

    def _log(self, mutant: Mutant, outcome: Outcome) -> Outcome:
        sys.stderr.write(f"{outcome.status:>9} {outcome.seconds:6.1f}s {mutant.describe()}\n")
        sys.stderr.flush()
        return outcome


def _after(items: list[pytest.Item], index: int) -> pytest.Item | None:
    """The next item, or one that keeps session fixtures up after the last one."""
    if index + 1 < len(items):
        return items[index + 1]
    return items[0] if len(items) > 1 else None


def _wait(pid: int, budget: float) -> int | None:
    """The child's exit status, or None after killing its process group at the deadline."""
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.killpg(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def pytest_configure(config: pytest.Config) -> None:
    target = os.environ.get("FLUX_MUTATE_MODULE")
    if not target:
        return
    only = os.environ.get("FLUX_MUTATE_ONLY")
    numbers = {int(n) for n in only.split(",")} if only else None
    report = Path(os.environ["FLUX_MUTATE_REPORT"])
    config.pluginmanager.register(
        MutationSession(config, Path(target), report, numbers), "flux-mutate-session"
    )
