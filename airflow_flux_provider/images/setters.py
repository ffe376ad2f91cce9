"""The Setters update strategy: write policy results into marked YAML scalars.

A scalar is marked by a line comment such as ``# {"$imagepolicy": "flux-system:app"}``
(whole reference), or the same name followed by ``:tag``, ``:name`` or ``:digest``. The
rewrite works on the text, one marked scalar at a time, so every other byte — comments,
quoting, indentation, key order, line endings — stays as it was; Flux re-serialises the
whole file instead, which is the one intended difference.
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

from airflow_flux_provider.images.errors import ImageError
from airflow_flux_provider.images.policy import PolicyResult

MARKER_TOKEN = "$imagepolicy"
_FIELDS = ("tag", "name", "digest")
_MARKED_LINE = re.compile(r"(?P<body>.*\S)(?P<gap>\s+)#\s*(?P<marker>\{[^#]*\$imagepolicy[^#]*\})\s*$")
_DOC_START = re.compile(r"---(?:\s|$)")
_NODE_TAG = re.compile(r"(?:![^\s]*\s+)?(?:&[^\s]+\s+)?")
_FIX = 'write # {"$imagepolicy": "<namespace>:<policy>"} (optionally ending in :tag, :name or :digest)'
_PATH_FIELD = "spec.update.path"
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class ObjectId:
    """The object a change landed in; field names match Flux's template data."""

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
    """Everything one Setters run changed, and markers naming policies it was not given."""

    changes: list[Change] = field(default_factory=list)
    unknown_markers: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return sorted({c.file for c in self.changes})


def _setter_value(image: PolicyResult, part: str) -> str | None:
    if part == "tag":
        return image.tag
    if part == "name":
        return image.image
    if part == "digest":
        return image.digest
    return image.ref


def _value_start(body: str) -> int:
    """Index where the scalar value of a block-style line begins (after ``- `` and ``key: ``)."""
    i = len(body) - len(body.lstrip(" "))
    while body.startswith("-", i) and (i + 1 == len(body) or body[i + 1] in " \t"):
        i = len(body) - len(body[i + 1 :].lstrip(" \t"))
    start, j = i, i
    while j < len(body):
        ch = body[j]
        if ch in "\"'" and j == start:
            end = _quoted_end(body, j)
            if end < 0:
                return start
            j = end + 1
            continue
        if ch == ":" and (j + 1 == len(body) or body[j + 1] in " \t"):
            j += 1
            while j < len(body) and body[j] in " \t":
                j += 1
            start = j
            continue
        j += 1
    return start


def _quoted_end(text: str, start: int) -> int:
    quote, j = text[start], start + 1
    while j < len(text):
        if quote == '"' and text[j] == "\\":
            j += 2
            continue
        if text[j] == quote:
            if quote == "'" and text.startswith("''", j):
                j += 2
                continue
            return j
        j += 1
    return -1


def _decode(value: str) -> str:
    if value[:1] == "'":
        return value[1:-1].replace("''", "'")
    if value[:1] == '"':
        return str(yaml.load(value, Loader=_LOADER))
    return value


def _encode(new: str, like: str) -> str:
    """Write ``new`` in the quoting style of ``like``, quoting plain text YAML would misread."""
    if like[:1] == "'":
        return "'" + new.replace("'", "''") + "'"
    if like[:1] == '"':
        return json.dumps(new)
    try:
        plain_ok = yaml.load(new, Loader=_LOADER) == new and not re.search(r": |\s#", new)
    except yaml.YAMLError:
        plain_ok = False
    return new if plain_ok else json.dumps(new)


def _parse_marker(marker: str, where: str) -> tuple[str, str]:
    """Return (policy ``ns:name``, part) from the marker's JSON."""
    try:
        data = json.loads(marker)
    except json.JSONDecodeError:
        data = None
    setter = data.get("$imagepolicy") if isinstance(data, dict) else None
    parts = setter.split(":") if isinstance(setter, str) else []
    if len(parts) not in (2, 3) or not all(parts) or (len(parts) == 3 and parts[2] not in _FIELDS):
        raise ImageError(f"malformed image policy marker {marker}; {_FIX}", obj=where)
    return f"{parts[0]}:{parts[1]}", parts[2] if len(parts) == 3 else ""


def _scalar(text: str) -> str:
    value = text.split(" #", 1)[0].strip()
    return _decode(value) if value[:1] in ("'", '"') and len(value) > 1 else value


def _object_id(doc_lines: list[str]) -> ObjectId:
    """apiVersion, kind and metadata name/namespace read from block-style text (no full parse)."""
    found = {"apiVersion": "", "kind": "", "name": "", "namespace": ""}
    in_meta, meta_indent = False, -1
    for line in doc_lines:
        content = line.rstrip("\r\n")
        body = content.lstrip(" ")
        if not body or body.startswith("#"):
            continue
        indent = len(content) - len(body)
        key, _, value = body.partition(":")
        if indent == 0:
            in_meta, meta_indent = key == "metadata", -1
            if key in ("apiVersion", "kind"):
                found[key] = _scalar(value)
        elif in_meta:
            meta_indent = indent if meta_indent < 0 else meta_indent
            if indent == meta_indent and key in ("name", "namespace"):
                found[key] = _scalar(value)
    return ObjectId(found["apiVersion"], found["kind"], found["name"], found["namespace"])


def set_text(
    text: str, policies: Mapping[str, PolicyResult], file: str = "<text>"
) -> tuple[str, UpdateResult]:
    """Rewrite the marked scalars of one YAML text; unmarked bytes are returned untouched."""
    result = UpdateResult()
    if MARKER_TOKEN not in text:
        return text, result
    lines = text.splitlines(keepends=True)
    doc_start = 0
    doc_ids: dict[int, ObjectId] = {}
    for n, line in enumerate(lines):
        if _DOC_START.match(line):
            doc_start = n + 1
            continue
        if "$imagepolicy" not in line:
            continue
        where = f"{file}:{n + 1}"
        content = line.rstrip("\r\n")
        if content.lstrip().startswith("#"):
            continue  # a comment line, not a line comment: Flux ignores it too
        m = _MARKED_LINE.match(content)
        if m is None:
            if MARKER_TOKEN in content.split("#", 1)[-1]:
                raise ImageError(
                    f"image policy marker is not a line comment after a value; {_FIX}", obj=where
                )
            continue
        policy, part = _parse_marker(m["marker"], where)
        setter = f"{policy}:{part}" if part else policy
        image = policies.get(policy)
        if image is None:
            result.unknown_markers.append((file, n + 1, setter))
            continue
        new = _setter_value(image, part)
        if new is None:
            continue
        body = m["body"]
        start = _value_start(body)
        props = _NODE_TAG.match(body, start)
        start = props.end() if props else start
        value = body[start:]
        if (
            not value
            or value[0] in "{[|>&*"
            or (value[0] in "\"'" and _quoted_end(value, 0) != len(value) - 1)
        ):
            raise ImageError(
                f"marker {setter!r} is not on a single-line scalar value (found {value or 'nothing'!r}); "
                "put the marker on the line of the value it sets",
                obj=where,
            )
        old = _decode(value)
        if old == new:
            continue
        if doc_start not in doc_ids:
            end = next((k for k in range(n, len(lines)) if _DOC_START.match(lines[k])), len(lines))
            doc_ids[doc_start] = _object_id(lines[doc_start:end])
        lines[n] = body[:start] + _encode(new, value) + line[len(body) :]
        result.changes.append(Change(file, n + 1, doc_ids[doc_start], setter, old, new, image))
    return ("".join(lines) if result.changes else text), result


def _yaml_files(root: Path) -> Iterator[Path]:
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
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
            f"update.path {path!r} is not a folder of the repository", obj=obj, field="spec.update.path"
        )
    return target


def apply_setters(
    repo_root: Path,
    path: str,
    policies: Mapping[str, PolicyResult],
    *,
    obj: str = "ImageUpdateAutomation",
) -> UpdateResult:
    """Rewrite every marked value under ``repo_root/path``; only changed files are written."""
    base = update_path(repo_root, path, obj=obj)
    total = UpdateResult()
    root = repo_root.resolve()
    for file in _yaml_files(base):
        if file.is_symlink() and not file.resolve().is_relative_to(root):
            continue  # never read or write through a link that leaves the checkout
        raw = file.read_bytes()
        if MARKER_TOKEN.encode() not in raw:
            continue
        rel = file.relative_to(base).as_posix()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ImageError(
                f"{rel} is not UTF-8 text; re-encode it", obj=obj, field="spec.update.path"
            ) from None
        new_text, result = set_text(text, policies, rel)
        if result.changes:
            file.write_bytes(new_text.encode("utf-8"))
        total.changes += result.changes
        total.unknown_markers += result.unknown_markers
    return total
