"""The Setters update strategy: write policy results into marked YAML scalars.

A marker is a comment on a scalar that is a mapping value or a sequence item, as kyaml
reads it for image-automation-controller: the scalar's line comment, or (when it has
none) the single comment line right above a scalar sequence item. The comment, with its
leading ``#`` removed, must be a JSON object of strings whose ``$imagepolicy`` names a
known setter (``<namespace>:<policy>``, optionally ending in ``:tag``, ``:name`` or
``:digest``); any other comment, and a marker anywhere else (on a key, a flow or block
collection, a ``|``/``>`` block scalar, an alias), is ignored, as Flux ignores it.

The file is parsed, and only the text of each marked scalar is replaced, so every other
byte (comments, quoting, indentation, key order, line endings) stays as it was; Flux
re-serialises the whole file instead, which is the one intended difference. A rewritten
file is parsed again and compared with the original before it is written: it must hold
the same documents with only the marked values changed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from airflow_flux_provider.images.errors import ImageError
from airflow_flux_provider.images.policy import PolicyResult

MARKER_TOKEN = "$imagepolicy"
_SCREEN = b'"$imagepolicy"'  # Flux reads a file only if it holds the quoted token
_FIELDS = ("tag", "name", "digest")
_PATH_FIELD = "spec.update.path"
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_LINE_COMMENT = re.compile(r"[ \t]+(#[^\r\n]*)")
_COMMENT_LINE = re.compile(r"[ \t]*(#[^\r\n]*)\r?\n?")
_NODE_PROPERTIES = re.compile(r"(?:[!&][^\s]*\s+)*")
_PLAIN_SAFE = re.compile(r"[A-Za-z0-9_][\w./:@+~=-]*")


@dataclass(frozen=True, slots=True, order=True)
class ObjectId:
    """The object a change landed in; fields (and their order) as Flux's ObjectIdentifier."""

    APIVersion: str
    Kind: str
    Name: str
    Namespace: str

    GO_TYPE: ClassVar[str] = "update.ObjectIdentifier"

    def go_json(self) -> dict[str, str]:
        """Go's JSON of ObjectIdentifier: its embedded fields' json tags, empty ones omitted."""
        values = (self.APIVersion, self.Kind, self.Name, self.Namespace)
        return {
            tag: v for tag, v in zip(("apiVersion", "kind", "name", "namespace"), values, strict=True) if v
        }

    def __str__(self) -> str:
        # how Go's fmt prints Flux's ObjectIdentifier{ResourceIdentifier{TypeMeta, NameMeta}}
        return f"{{{{{{{self.APIVersion} {self.Kind}}} {{{self.Name} {self.Namespace}}}}}}}"


@dataclass(frozen=True, slots=True)
class Change:
    """One rewritten scalar (``file`` is relative to ``update.path``, with ``/``)."""

    file: str
    line: int
    object: ObjectId
    setter: str
    old: str
    new: str
    image: PolicyResult


@dataclass
class UpdateResult:
    """What one Setters run changed; markers naming no known setter; files that did not parse."""

    changes: list[Change] = field(default_factory=list)
    unknown_markers: list[tuple[str, int, str]] = field(default_factory=list)
    problem_files: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return sorted({c.file for c in self.changes})

    def extend(self, other: UpdateResult) -> None:
        self.changes += other.changes
        self.unknown_markers += other.unknown_markers
        self.problem_files += other.problem_files


@dataclass(frozen=True, slots=True)
class _Edit:
    """Replace ``text[start:end]`` (a scalar's value, properties excluded) with ``new``."""

    start: int
    end: int
    new: str


def _setter_value(image: PolicyResult, part: str) -> str:
    if part == "tag":
        return image.tag
    if part == "name":
        return image.image
    if part == "digest":
        return image.digest or ""  # Flux writes "" when the policy reflects no digest
    return image.ref


def _marker_name(comment: str) -> str | None:
    """The ``$imagepolicy`` value of a comment, or None when the comment is no marker."""
    try:
        data = json.loads(comment.lstrip("#"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        return None
    return data.get(MARKER_TOKEN) or None


def _known(name: str, policies: Mapping[str, PolicyResult]) -> tuple[PolicyResult, str] | None:
    parts = name.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in _FIELDS):
        return None
    image = policies.get(f"{parts[0]}:{parts[1]}")
    return None if image is None else (image, parts[2] if len(parts) == 3 else "")


class _Level:
    """One open mapping or sequence while walking the event stream."""

    __slots__ = ("expect_key", "flow", "is_map", "key", "path")

    def __init__(self, is_map: bool, path: tuple[str | None, ...], flow: bool) -> None:
        self.is_map, self.path, self.flow = is_map, path, flow
        self.expect_key = is_map
        self.key: str | None = None

    def child_path(self) -> tuple[str | None, ...]:
        return (*self.path, self.key if self.is_map else None)


@dataclass(frozen=True, slots=True)
class _Scalar:
    """A scalar that is a mapping value (``item`` False) or a sequence item, in document ``doc``.

    ``plain_context``: single-line and outside any flow collection, where a rewrite in the
    encodings of :func:`_encode` is safe by construction (anything else is re-parsed).
    """

    value: str
    style: str | None
    start: int  # character offsets of the scalar (tag and anchor included)
    end: int
    line: int  # 0-based line of its start
    item: bool
    doc: int
    plain_context: bool


_IDENTITY: dict[tuple[str | None, ...], int] = {
    ("apiVersion",): 0,
    ("kind",): 1,
    ("metadata", "name"): 2,
    ("metadata", "namespace"): 3,
}


def _walk(events: list[Any], marked_lines: set[int]) -> tuple[list[_Scalar], list[ObjectId]]:
    """The value and item scalars that may carry a marker, and each document's object identity.

    Candidates are scalars whose last line, or for an item the line above, holds the
    marker token. Keys, the root scalar and aliases (go-yaml gives an alias a node of its
    own, not a scalar) never are. Identity is apiVersion, kind and metadata name/namespace.
    """
    scalars: list[_Scalar] = []
    ids: list[ObjectId] = []
    stack: list[_Level] = []
    identity = ["", "", "", ""]
    for event in events:
        kind = type(event)
        if kind is ScalarEvent or kind is AliasEvent:
            if not stack:
                continue
            parent = stack[-1]
            if parent.is_map:
                parent.expect_key = not parent.expect_key
                if not parent.expect_key:  # this event was the key
                    parent.key = event.value if kind is ScalarEvent else None
                    continue
                slot = _IDENTITY.get(parent.child_path()) if len(parent.path) < 2 else None
                if slot is not None and kind is ScalarEvent:
                    identity[slot] = event.value
            if kind is ScalarEvent:
                first, last = event.start_mark.line, event.end_mark.line
                if last in marked_lines or (not parent.is_map and first - 1 in marked_lines):
                    start, end = event.start_mark.index, event.end_mark.index
                    plain_context = first == last and not parent.flow
                    item = not parent.is_map
                    scalars.append(
                        _Scalar(
                            event.value, event.style or None, start, end, first, item, len(ids), plain_context
                        )
                    )
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            path = stack[-1].child_path() if stack else ()
            flow = bool(event.flow_style) or bool(stack and stack[-1].flow)
            stack.append(_Level(kind is MappingStartEvent, path, flow))
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            stack.pop()
            _advance(stack)
        elif kind is DocumentStartEvent:
            stack, identity = [], ["", "", "", ""]
        elif kind is DocumentEndEvent:
            ids.append(ObjectId(*identity))
    return scalars, ids


def _advance(stack: list[_Level]) -> None:
    if stack and stack[-1].is_map:
        stack[-1].expect_key = not stack[-1].expect_key


def _marker(text: str, scalar: _Scalar) -> str | None:
    """The marker comment of a scalar: its line comment, else the head comment of an item."""
    if scalar.style in ("|", ">") or scalar.start == scalar.end:
        return None  # a block scalar, or an empty value (the comment is the key's)
    line_comment = _LINE_COMMENT.match(text, scalar.end)
    if line_comment:
        return line_comment[1]
    return _head_comment(text, scalar.start) if scalar.item else None


def _head_comment(text: str, start: int) -> str | None:
    """The comment block right above a block sequence item, when it is a single line."""
    line_start = text.rfind("\n", 0, start) + 1
    prefix = text[line_start:start]
    if prefix.strip() != "-":
        return None  # not the first thing after a block sequence's "- "
    dash = prefix.index("-")
    comments: list[str] = []
    end = line_start
    while end > 0:
        above = text.rfind("\n", 0, end - 1) + 1
        m = _COMMENT_LINE.fullmatch(text, above, end)
        if m is None or m.start(1) - above < dash:
            break
        comments.append(m[1])
        end = above
    return comments[0] if len(comments) == 1 else None


def _value_start(text: str, scalar: _Scalar) -> int:
    """Where the scalar's own text starts, after any tag or anchor."""
    props = _NODE_PROPERTIES.match(text, scalar.start, scalar.end)
    return props.end() if props else scalar.start


def _encode(new: str, style: str | None) -> str:
    """Write ``new`` in the scalar's quoting style, quoting plain text YAML would misread."""
    if style == "'" and new.isprintable():
        return "'" + new.replace("'", "''") + "'"
    if style != '"' and _PLAIN_SAFE.fullmatch(new) and ": " not in new:
        try:
            if yaml.load(new, Loader=_LOADER) == new:
                return new
        except yaml.YAMLError:
            pass
    return _double_quoted(new)


_ESCAPE = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _double_quoted(text: str) -> str:
    """A YAML double-quoted scalar: quotes, backslashes and every non-printable or line-break
    character escaped (YAML 1.1 folds a raw U+2028 or U+0085), the rest kept as written."""
    out = []
    for ch in text:
        if ch in _ESCAPE:
            out.append(_ESCAPE[ch])
        elif ch.isprintable() and ch not in "\u2028\u2029\ufeff":
            out.append(ch)
        else:
            code = ord(ch)
            width = 2 if code < 0x100 else 4 if code < 0x10000 else 8
            out.append(f"\\{ {2: 'x', 4: 'u', 8: 'U'}[width] }{code:0{width}x}")
    return '"' + "".join(out) + '"'


def _parse(text: str) -> list[Any] | None:
    """The YAML events of ``text``, or None when it is not YAML (Flux skips such files)."""
    try:
        return list(yaml.parse(text, Loader=_LOADER))
    except yaml.YAMLError:
        return None


def set_text(
    text: str, policies: Mapping[str, PolicyResult], file: str = "<text>"
) -> tuple[str, UpdateResult]:
    """Rewrite the marked scalars of one YAML text; unmarked bytes are returned untouched."""
    result = UpdateResult()
    if MARKER_TOKEN not in text:
        return text, result
    events = _parse(text)
    if events is None:
        result.problem_files.append(file)
        return text, result
    marked_lines = {n for n, line in enumerate(text.split("\n")) if MARKER_TOKEN in line}
    scalars, ids = _walk(events, marked_lines)
    edits: list[_Edit] = []
    check = False
    for scalar in scalars:
        comment = _marker(text, scalar)
        name = _marker_name(comment) if comment and MARKER_TOKEN in comment else None
        if name is None:
            continue
        line = scalar.line + 1
        known = _known(name, policies)
        if known is None:
            result.unknown_markers.append((file, line, name))
            continue
        image, part = known
        new = _setter_value(image, part)
        if scalar.value == new:
            continue
        edits.append(_Edit(_value_start(text, scalar), scalar.end, _encode(new, scalar.style)))
        check = check or not scalar.plain_context
        result.changes.append(Change(file, line, ids[scalar.doc], name, scalar.value, new, image))
    if not edits:
        return text, result
    pieces, pos = [], 0
    for edit in sorted(edits, key=lambda e: e.start):
        pieces += [text[pos : edit.start], edit.new]
        pos = edit.end
    new_text = "".join([*pieces, text[pos:]])
    if check:
        _check_rewrite(events, new_text, result.changes, file)
    return new_text, result


def _check_rewrite(old: list[Any], new_text: str, changes: list[Change], file: str) -> None:
    """Refuse a rewrite that broke the YAML or changed anything but the marked values."""
    new = _parse(new_text)
    if new is None:
        raise ImageError(f"{file}: rewriting the marked values would break the YAML; report this file")
    if _differences(old, new) != sorted((c.old, c.new) for c in changes):
        raise ImageError(f"{file}: rewriting the marked values would change other values; report this file")


def _differences(old: list[Any], new: list[Any]) -> list[tuple[str, str]] | None:
    """(old, new) for each scalar whose value differs; None when anything else differs."""
    if len(old) != len(new):
        return None
    found = []
    for a, b in zip(old, new, strict=True):
        if type(a) is not type(b) or getattr(a, "anchor", None) != getattr(b, "anchor", None):
            return None
        if getattr(a, "tag", None) != getattr(b, "tag", None):
            return None
        if isinstance(a, ScalarEvent) and a.value != b.value:
            found.append((a.value, b.value))
    return sorted(found)


def _yaml_files(root: Path) -> Iterator[str]:
    """Files Flux considers, hidden folders included (``.git`` holds none, and is never written)."""
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(names):
            if name.endswith((".yaml", ".yml")) or name == "Kustomization":
                yield os.path.join(folder, name)


def update_path(repo_root: Path, path: str, *, obj: str = "ImageUpdateAutomation") -> Path:
    """``spec.update.path`` inside the checkout; a path leaving it is refused."""
    root = repo_root.resolve()
    target = (root / path).resolve()
    if target != root and root not in target.parents:
        raise ImageError(
            f"update.path {path!r} points outside the repository; use a path relative to its root",
            obj=obj,
            field=_PATH_FIELD,
        )
    if not target.is_dir():
        raise ImageError(
            f"update.path {path!r} is not a folder of the repository", obj=obj, field=_PATH_FIELD
        )
    return target


def apply_setters(
    repo_root: Path,
    path: str,
    policies: Mapping[str, PolicyResult],
    *,
    obj: str = "ImageUpdateAutomation",
) -> UpdateResult:
    """Rewrite every marked value under ``repo_root/path``; only changed files are written.

    Files that are not UTF-8 YAML are skipped and listed in ``problem_files``, and a link
    that dangles is skipped, as Flux does; a link leaving the checkout is never followed.
    """
    base = update_path(repo_root, path, obj=obj)
    total = UpdateResult()
    root = repo_root.resolve()
    for file in _yaml_files(base):
        rel = os.path.relpath(file, base).replace(os.sep, "/")
        if os.path.islink(file) and not (os.path.exists(file) and Path(file).resolve().is_relative_to(root)):
            continue
        try:
            with open(file, "rb") as stream:
                raw = stream.read()
        except OSError as err:
            raise ImageError(f"cannot read {rel}: {err.strerror}", obj=obj, field=_PATH_FIELD) from None
        if _SCREEN not in raw:
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            total.problem_files.append(rel)
            continue
        try:
            new_text, result = set_text(text, policies, rel)
        except ImageError as err:
            raise ImageError(err.message, obj=obj, field=_PATH_FIELD) from None
        if result.changes:
            with open(file, "wb") as stream:
                stream.write(new_text.encode("utf-8"))
        total.extend(result)
    return total
