"""Commit message templates: the part of Go's text/template that Flux users write.

Supported: text with ``{{ }}`` actions and ``{{-``/``-}}`` trimming, comments, field
chains (``.Changed.FileChanges``, ``$v.NewValue``), variables, ``range`` (with
``$k, $v :=``/``$v :=``, ``else``), ``if``/``else if``/``else``, ``with``, pipelines and
the functions ``len index not and or eq ne print``. Values print as Go's ``%v`` does; a
map ranges in sorted key order. Anything else is a :class:`TemplateError` naming the
action, never a Python traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_flux_provider.images.errors import ImageError
from airflow_flux_provider.images.policy import PolicyResult
from airflow_flux_provider.images.setters import ObjectId, UpdateResult
from airflow_flux_provider.patterns import regex

DEFAULT_MESSAGE = "Update from image update automation"
_FIELD = "spec.git.commit.messageTemplate"
_SPACE = " \t\r\n"
_TOKEN = regex(  # RE2: an action of blanks is linear, not quadratic
    r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)|(?P<num>-?\d+(?:\.\d+)?)|(?P<decl>:=|=)|(?P<pipe>\|)"""
    r"""|(?P<comma>,)|(?P<var>\$\w*(?:\.\w+)*)|(?P<field>(?:\.\w+)+|\.)|(?P<ident>[A-Za-z_]\w*)|(?P<bad>\S))"""
)


class TemplateError(ImageError):
    """A template Flux would refuse (or that uses syntax outside the supported subset)."""


# --- nodes ---------------------------------------------------------------------------


@dataclass
class _Text:
    text: str


@dataclass
class _Action:
    pipe: list[list[tuple[str, str]]]
    decl: list[str] = field(default_factory=list)
    source: str = ""


@dataclass
class _Block:
    keyword: str  # if, range, with
    pipe: _Action
    body: list[Any] = field(default_factory=list)
    orelse: list[Any] = field(default_factory=list)


Node = _Text | _Action | _Block


def _lex(template: str) -> list[tuple[str, str]]:
    """Split into ('text', ...) and ('action', inner) items, applying trim markers."""
    items: list[tuple[str, str]] = []
    pos = 0
    while True:
        start = template.find("{{", pos)
        if start < 0:
            items.append(("text", template[pos:]))
            return items
        end = template.find("}}", start + 2)
        if end < 0:
            raise TemplateError(f"unclosed action at offset {start}: add the missing }}}}", field=_FIELD)
        inner = template[start + 2 : end]
        text = template[pos:start]
        if len(inner) >= 2 and inner[0] == "-" and inner[1] in _SPACE:
            text, inner = text.rstrip(_SPACE), inner[1:]
        pos = end + 2
        if len(inner) >= 2 and inner[-1] == "-" and inner[-2] in _SPACE:
            inner = inner[:-1]
            while pos < len(template) and template[pos] in _SPACE:
                pos += 1
        items.append(("text", text))
        items.append(("action", inner.strip()))


def _tokens(inner: str) -> list[tuple[str, str]]:
    out = []
    for m in _TOKEN.finditer(inner):
        kind = m.lastgroup or "bad"
        if kind == "bad":
            raise TemplateError(
                f"{{{{ {inner} }}}}: {m[kind]!r} is not supported in commit templates", field=_FIELD
            )
        out.append((kind, m[kind]))
    return out


def _action(inner: str) -> _Action:
    tokens = _tokens(inner)
    decl: list[str] = []
    if any(kind == "decl" for kind, _ in tokens):
        while tokens and tokens[0][0] in ("var", "comma"):
            kind, value = tokens.pop(0)
            if kind == "var":
                decl.append(value)
        if not tokens or tokens.pop(0)[0] != "decl" or not decl:
            raise TemplateError(f"{{{{ {inner} }}}}: write variables as $k, $v := pipeline", field=_FIELD)
    commands: list[list[tuple[str, str]]] = [[]]
    for token in tokens:
        if token[0] == "pipe":
            commands.append([])
        elif token[0] == "comma":
            raise TemplateError(f"{{{{ {inner} }}}}: unexpected ','", field=_FIELD)
        else:
            commands[-1].append(token)
    if any(not c for c in commands):
        raise TemplateError(f"{{{{ {inner} }}}}: empty command in pipeline", field=_FIELD)
    return _Action(commands, decl, inner)


def parse(template: str) -> list[Node]:
    """Parse ``template``; syntax errors are :class:`TemplateError`."""
    items = _lex(template)
    return _parse_list(items, 0, top=True)[0]


def _parse_list(items: list[tuple[str, str]], i: int, *, top: bool = False) -> tuple[list[Node], int]:
    nodes: list[Node] = []
    while i < len(items):
        kind, value = items[i]
        if kind == "text":
            if value:
                nodes.append(_Text(value))
            i += 1
            continue
        if value.startswith("/*"):
            if not value.endswith("*/"):
                raise TemplateError("a comment must be written {{/* ... */}}", field=_FIELD)
            i += 1
            continue
        word = value.split(None, 1)[0] if value else ""
        if word in ("end", "else"):
            if top:
                raise TemplateError(f"{{{{{value}}}}} without a matching if/range/with", field=_FIELD)
            return nodes, i
        if word in ("if", "range", "with"):
            block, i = _parse_block(items, i, word, value[len(word) :].strip())
            nodes.append(block)
            continue
        if word in ("define", "template", "block", "break", "continue"):
            raise TemplateError(f"{{{{{value}}}}}: {word} is not supported in commit templates", field=_FIELD)
        if not value:
            raise TemplateError("empty action {{}}", field=_FIELD)
        nodes.append(_action(value))
        i += 1
    if not top:
        raise TemplateError("the template ends before the {{end}} of an if/range/with", field=_FIELD)
    return nodes, i


def _parse_block(items: list[tuple[str, str]], i: int, word: str, rest: str) -> tuple[_Block, int]:
    if not rest:
        raise TemplateError(f"{{{{{word}}}}} needs a pipeline", field=_FIELD)
    block = _Block(word, _action(rest))
    block.body, i = _parse_list(items, i + 1)
    closing = items[i][1]
    if closing.startswith("else"):
        tail = closing[4:].strip()
        if tail.startswith("if ") and word == "if":
            # {{else if x}} ... {{end}} is an if nested in the else branch sharing its end
            nested, i = _parse_block(items, i, "if", tail[3:].strip())
            block.orelse = [nested]
            return block, i
        if tail:
            raise TemplateError(f"{{{{{closing}}}}} is not supported; use {{{{else}}}}", field=_FIELD)
        block.orelse, i = _parse_list(items, i + 1)
        closing = items[i][1]
        if closing != "end":
            raise TemplateError(f"{{{{{closing}}}}}: a second else in one {word}", field=_FIELD)
    return block, i + 1


# --- evaluation ----------------------------------------------------------------------


def go_string(value: Any) -> str:
    """Go's ``%v`` for the values templates print."""
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{go_string(k)}:{go_string(v)}" for k, v in _map_items(value)) + "]"
    if isinstance(value, Sequence):
        return "[" + " ".join(go_string(v) for v in value) + "]"
    return str(value)


def _map_items(value: Mapping[Any, Any]) -> list[tuple[Any, Any]]:
    try:
        return sorted(value.items(), key=lambda kv: kv[0])
    except TypeError:
        return list(value.items())


def _truth(value: Any) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, int | float | str | Mapping | Sequence):
        return bool(value)
    return True


def _eq(a: Any, *others: Any) -> bool:
    return any(a == b for b in others)


_FUNCS: dict[str, Callable[..., Any]] = {
    "len": len,
    "index": lambda v, *keys: _index(v, keys),
    "not": lambda v: not _truth(v),
    "and": lambda *v: next((x for x in v if not _truth(x)), v[-1]),
    "or": lambda *v: next((x for x in v if _truth(x)), v[-1]),
    "eq": _eq,
    "ne": lambda a, b: a != b,
    "print": lambda *v: "".join(go_string(x) for x in v),
}


def _index(value: Any, keys: tuple[Any, ...]) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else value[key]
    return value


class _Scope:
    def __init__(self, root: Any) -> None:
        self.vars: list[dict[str, Any]] = [{"$": root}]

    def get(self, name: str) -> Any:
        for frame in reversed(self.vars):
            if name in frame:
                return frame[name]
        raise TemplateError(f"undefined variable {name}; declare it with {name} := ...", field=_FIELD)


def _field(value: Any, name: str, source: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(name)
    if value is None:
        raise TemplateError(f"{{{{ {source} }}}}: nil value has no field {name}", field=_FIELD)
    if name.startswith("_") or not hasattr(value, name):
        kind = type(value).__name__
        if name == "Updated" and isinstance(value, TemplateData):
            raise TemplateError(
                "the template uses .Updated, which image.toolkit.fluxcd.io/v1 removed; "
                "use .Changed instead (e.g. range $file, $_ := .Changed.FileChanges)",
                field=_FIELD,
            )
        raise TemplateError(f"{{{{ {source} }}}}: can't evaluate field {name} in type {kind}", field=_FIELD)
    return getattr(value, name)


def _operand(token: tuple[str, str], dot: Any, scope: _Scope, source: str) -> Any:
    kind, text = token
    if kind == "str":
        return text[1:-1] if text[0] == "`" else bytes(text[1:-1], "utf-8").decode("unicode_escape")
    if kind == "num":
        return float(text) if "." in text else int(text)
    if kind == "ident":
        if text in ("true", "false"):
            return text == "true"
        if text == "nil":
            return None
        raise TemplateError(f"{{{{ {source} }}}}: function {text!r} is not supported", field=_FIELD)
    if kind == "var":
        name, *chain = text.split(".")
        value = scope.get(name)
    else:
        value, chain = dot, [p for p in text.split(".") if p]
    for name in chain:
        value = _field(value, name, source)
    return value


def _pipeline(action: _Action, dot: Any, scope: _Scope) -> Any:
    result: Any = None
    for n, command in enumerate(action.pipe):
        head = command[0]
        args = [_operand(t, dot, scope, action.source) for t in command[1:]]
        if n:
            args.append(result)
        if head[0] == "ident" and head[1] in _FUNCS:
            try:
                result = _FUNCS[head[1]](*args)
            except (TypeError, KeyError, IndexError) as err:
                raise TemplateError(f"{{{{ {action.source} }}}}: {head[1]}: {err}", field=_FIELD) from None
        elif args or (head[0] == "ident" and head[1] not in ("true", "false", "nil")):
            supported = ", ".join(_FUNCS)
            problem = f"{head[1]!r} is not a supported function (supported: {supported})"
            raise TemplateError(f"{{{{ {action.source} }}}}: {problem}", field=_FIELD)
        else:
            result = _operand(head, dot, scope, action.source)
    return result


def _render(nodes: list[Node], dot: Any, scope: _Scope, out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, _Text):
            out.append(node.text)
        elif isinstance(node, _Action):
            value = _pipeline(node, dot, scope)
            if node.decl:
                scope.vars[-1][node.decl[0]] = value
            else:
                out.append(go_string(value))
        else:
            _render_block(node, dot, scope, out)


def _render_block(node: _Block, dot: Any, scope: _Scope, out: list[str]) -> None:
    value = _pipeline(node.pipe, dot, scope)
    scope.vars.append({})
    try:
        if node.keyword == "range":
            entries = _range_entries(value, node.pipe.source)
            for key, item in entries:
                decl = node.pipe.decl
                if len(decl) == 1:
                    scope.vars[-1][decl[0]] = item
                elif len(decl) == 2:
                    scope.vars[-1].update({decl[0]: key, decl[1]: item})
                _render(node.body, item, scope, out)
            if not entries:
                _render(node.orelse, dot, scope, out)
        elif _truth(value):
            if node.pipe.decl:
                scope.vars[-1][node.pipe.decl[0]] = value
            _render(node.body, value if node.keyword == "with" else dot, scope, out)
        else:
            _render(node.orelse, dot, scope, out)
    finally:
        scope.vars.pop()


def _range_entries(value: Any, source: str) -> list[tuple[Any, Any]]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return _map_items(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(enumerate(value))
    raise TemplateError(f"{{{{range {source}}}}}: can't range over {type(value).__name__}", field=_FIELD)


def render(template: str | None, data: Any) -> str:
    """Render ``template`` (Flux's default message when empty) with ``data``."""
    nodes = parse(template or DEFAULT_MESSAGE)
    out: list[str] = []
    _render(nodes, data, _Scope(data), out)
    return "".join(out)


# --- Flux's template data ------------------------------------------------------------


@dataclass(frozen=True)
class NamespacedName:
    Namespace: str
    Name: str

    def __str__(self) -> str:
        return f"{self.Namespace}/{self.Name}"


@dataclass(frozen=True)
class TemplateData:
    """What ``{{ . }}`` is in a commit template; ``Updated`` only for pre-v1 automations."""

    AutomationObject: NamespacedName
    Changed: Any
    Values: dict[str, str]


@dataclass(frozen=True)
class LegacyTemplateData(TemplateData):
    Updated: Any = None


@dataclass(frozen=True)
class ChangeView:
    """Flux's ``update.Change``."""

    OldValue: str
    NewValue: str
    Setter: str

    def __str__(self) -> str:
        return f"{{{self.OldValue} {self.NewValue} {self.Setter}}}"


@dataclass(frozen=True)
class ChangedData:
    """``.Changed`` (Flux's ``update.Result``): changes by file and object."""

    FileChanges: dict[str, dict[ObjectId, list[ChangeView]]]

    @property
    def Objects(self) -> dict[ObjectId, list[ChangeView]]:
        merged: dict[ObjectId, list[ChangeView]] = {}
        for objects in self.FileChanges.values():
            for obj, changes in objects.items():
                merged.setdefault(obj, []).extend(changes)
        return merged

    @property
    def Changes(self) -> list[ChangeView]:
        seen: dict[ChangeView, None] = {}
        for objects in self.FileChanges.values():
            for changes in objects.values():
                seen.update(dict.fromkeys(changes))
        return list(seen)


@dataclass(frozen=True)
class ImageRef:
    """A chosen image as pre-v1 templates saw it: prints as the reference string."""

    result: PolicyResult
    policy: NamespacedName

    def __str__(self) -> str:
        return self.result.ref

    @property
    def Identifier(self) -> str:
        return self.result.digest or self.result.tag

    @property
    def Name(self) -> str:
        return self.result.image

    @property
    def Registry(self) -> str:
        first, _, rest = self.result.image.partition("/")
        return first if rest and ("." in first or ":" in first or first == "localhost") else "index.docker.io"

    @property
    def Repository(self) -> str:
        first, _, rest = self.result.image.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            return rest
        return self.result.image if rest else f"library/{self.result.image}"

    @property
    def Policy(self) -> NamespacedName:
        return self.policy


@dataclass(frozen=True)
class FileResult:
    Objects: dict[ObjectId, list[ImageRef]]


@dataclass(frozen=True)
class UpdatedData:
    """``.Updated`` as pre-v1 Flux filled it: files, objects and the distinct images."""

    Files: dict[str, FileResult]

    @property
    def Objects(self) -> dict[ObjectId, list[ImageRef]]:
        merged: dict[ObjectId, list[ImageRef]] = {}
        for file in self.Files.values():
            for obj, refs in file.Objects.items():
                merged.setdefault(obj, []).extend(refs)
        return merged

    @property
    def Images(self) -> list[ImageRef]:
        seen: dict[ImageRef, None] = {}
        for file in self.Files.values():
            for refs in file.Objects.values():
                seen.update(dict.fromkeys(refs))
        return list(seen)


def template_data(
    automation: NamespacedName, result: UpdateResult, values: Mapping[str, str] | None = None, *, legacy: bool
) -> TemplateData:
    """Flux's template data for one Setters run (``legacy`` adds ``.Updated``, as before v1)."""
    changed: dict[str, dict[ObjectId, list[ChangeView]]] = {}
    updated: dict[str, FileResult] = {}
    for c in sorted(result.changes, key=lambda c: (c.file, c.line)):  # Go leaves map order random
        changed.setdefault(c.file, {}).setdefault(c.object, []).append(ChangeView(c.old, c.new, c.setter))
        namespace, name = c.setter.split(":")[:2]
        ref = ImageRef(c.image, NamespacedName(namespace, name))
        updated.setdefault(c.file, FileResult({})).Objects.setdefault(c.object, []).append(ref)
    data = ChangedData(changed)
    if legacy:
        return LegacyTemplateData(automation, data, dict(values or {}), UpdatedData(updated))
    return TemplateData(automation, data, dict(values or {}))
