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
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

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


class _Document:
    """One parsed document of a file: finds its marked scalars."""

    def __init__(self, text: str, root: Node) -> None:
        self.text, self.root = text, root
        self.seen: set[int] = set()

    def object_id(self) -> ObjectId:
        """apiVersion, kind and metadata name/namespace, as kyaml reads an object's identity."""
        top = _mapping(self.root)
        meta = _mapping(top.get("metadata"))
        return ObjectId(
            _string(top.get("apiVersion")),
            _string(top.get("kind")),
            _string(meta.get("name")),
            _string(meta.get("namespace")),
        )

    def scalars(self) -> Iterator[tuple[ScalarNode, bool]]:
        """Every scalar that is a mapping value or sequence item (True for items), once each.

        An alias resolves to the node its anchor defined, which was visited first; it is
        not a scalar of its own (go-yaml gives it an alias node), so it is skipped.
        """
        stack: list[tuple[Node, bool]] = [(self.root, False)]
        while stack:
            node, item = stack.pop()
            if id(node) in self.seen:
                continue
            self.seen.add(id(node))
            if isinstance(node, ScalarNode):
                yield node, item
            elif isinstance(node, MappingNode):
                stack.extend((value, False) for _, value in reversed(node.value))
            elif isinstance(node, SequenceNode):
                stack.extend((value, True) for value in reversed(node.value))

    def marker(self, node: ScalarNode, item: bool) -> str | None:
        """The marker comment of ``node``: its line comment, else the head comment of an item."""
        if node.style in ("|", ">") or node.start_mark.index == node.end_mark.index:
            return None  # a block scalar, or an empty value (the comment is the key's)
        line_comment = _LINE_COMMENT.match(self.text, node.end_mark.index)
        if line_comment:
            return line_comment[1]
        return self._head_comment(node) if item else None

    def _head_comment(self, node: ScalarNode) -> str | None:
        text, start = self.text, node.start_mark.index
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

    def value_span(self, node: ScalarNode) -> tuple[int, int]:
        """Where the scalar's own text starts (after any tag or anchor) and ends."""
        props = _NODE_PROPERTIES.match(self.text, node.start_mark.index, node.end_mark.index)
        return (props.end() if props else node.start_mark.index), node.end_mark.index


def _mapping(node: Node | None) -> dict[str, Node]:
    if not isinstance(node, MappingNode):
        return {}
    return {k.value: v for k, v in node.value if isinstance(k, ScalarNode)}


def _string(node: Node | None) -> str:
    return node.value if isinstance(node, ScalarNode) else ""


def _encode(new: str, style: str | None) -> str:
    """Write ``new`` in the scalar's quoting style, quoting plain text YAML would misread."""
    if style == "'" and "\n" not in new:
        return "'" + new.replace("'", "''") + "'"
    if style != '"' and _PLAIN_SAFE.fullmatch(new) and ": " not in new:
        try:
            if yaml.load(new, Loader=_LOADER) == new:
                return new
        except yaml.YAMLError:
            pass
    return json.dumps(new)


def _compose(text: str) -> list[Node] | None:
    """The documents of ``text``, or None when it is not YAML (Flux skips such files)."""
    try:
        return [doc for doc in yaml.compose_all(text, Loader=_LOADER) if doc is not None]
    except (yaml.YAMLError, RecursionError):
        return None


def set_text(
    text: str, policies: Mapping[str, PolicyResult], file: str = "<text>"
) -> tuple[str, UpdateResult]:
    """Rewrite the marked scalars of one YAML text; unmarked bytes are returned untouched."""
    result = UpdateResult()
    if MARKER_TOKEN not in text:
        return text, result
    docs = _compose(text)
    if docs is None:
        result.problem_files.append(file)
        return text, result
    edits: list[_Edit] = []
    for root in docs:
        doc = _Document(text, root)
        object_id: ObjectId | None = None
        for node, item in doc.scalars():
            comment = doc.marker(node, item)
            name = _marker_name(comment) if comment and MARKER_TOKEN in comment else None
            if name is None:
                continue
            line = node.start_mark.line + 1
            known = _known(name, policies)
            if known is None:
                result.unknown_markers.append((file, line, name))
                continue
            image, part = known
            new = _setter_value(image, part)
            if node.value == new:
                continue
            object_id = object_id or doc.object_id()
            start, end = doc.value_span(node)
            edits.append(_Edit(start, end, _encode(new, node.style or None)))
            result.changes.append(Change(file, line, object_id, name, node.value, new, image))
    if not edits:
        return text, result
    pieces, pos = [], 0
    for edit in sorted(edits, key=lambda e: e.start):
        pieces += [text[pos : edit.start], edit.new]
        pos = edit.end
    new_text = "".join([*pieces, text[pos:]])
    _check_rewrite(docs, new_text, result.changes, file)
    return new_text, result


def _check_rewrite(old_docs: list[Node], new_text: str, changes: list[Change], file: str) -> None:
    """Refuse a rewrite that broke the YAML or changed anything but the marked values."""
    new_docs = _compose(new_text)
    if new_docs is None:
        raise ImageError(f"{file}: rewriting the marked values would break the YAML; report this file")
    seen: set[int] = set()
    try:
        found = [d for pair in zip(old_docs, new_docs, strict=False) for d in _differences(*pair, seen)]
    except RecursionError:
        raise ImageError(f"{file}: nested too deeply to check the rewrite; flatten it") from None
    if len(old_docs) != len(new_docs) or sorted(found) != sorted((c.old, c.new) for c in changes):
        raise ImageError(f"{file}: rewriting the marked values would change other values; report this file")


def _differences(old: Node, new: Node, seen: set[int]) -> Iterator[tuple[str, str]]:
    """(old, new) for each scalar that differs; a changed shape differs as a whole."""
    if id(old) in seen:
        return
    seen.add(id(old))
    if isinstance(old, ScalarNode) and isinstance(new, ScalarNode):
        if (old.value, old.tag) != (new.value, new.tag):
            yield old.value, new.value
    elif isinstance(old, MappingNode) and isinstance(new, MappingNode) and len(old.value) == len(new.value):
        for (old_key, old_value), (new_key, new_value) in zip(old.value, new.value, strict=True):
            yield from _differences(old_key, new_key, seen)
            yield from _differences(old_value, new_value, seen)
    elif isinstance(old, SequenceNode) and isinstance(new, SequenceNode) and len(old.value) == len(new.value):
        for old_item, new_item in zip(old.value, new.value, strict=True):
            yield from _differences(old_item, new_item, seen)
    else:
        yield type(old).__name__, type(new).__name__


def _yaml_files(root: Path) -> Iterator[Path]:
    """Files Flux considers, hidden folders included (``.git`` holds none, and is never written)."""
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(names):
            if name.endswith((".yaml", ".yml")) or name == "Kustomization":
                yield Path(folder, name)


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
        rel = file.relative_to(base).as_posix()
        if file.is_symlink() and not (file.exists() and file.resolve().is_relative_to(root)):
            continue
        try:
            raw = file.read_bytes()
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
            file.write_bytes(new_text.encode("utf-8"))
        total.extend(result)
    return total
