"""``load_manifests``: read multi-document YAML from text, a file, or a folder of files.

Documents are composed as YAML nodes first so that an error can name the line of the bad
field and duplicate keys can be refused; empty documents are skipped and a ``kind: List``
is expanded into its items.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from airflow_flux_provider.specs.base import FluxObject
from airflow_flux_provider.specs.errors import SpecError
from airflow_flux_provider.specs.problems import LineLookup
from airflow_flux_provider.specs.registry import parse_manifest

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SUFFIXES = (".yaml", ".yml")


def load_manifests(path_or_text: str | Path) -> list[FluxObject]:
    """Every object in a YAML file, a folder (recursive, ``*.yaml``/``*.yml``, sorted) or YAML text.

    In a folder, YAML documents with neither ``apiVersion`` nor ``kind`` are data, not
    manifests (a configMapGenerator input, a bare ``kustomization.yaml``), and are skipped;
    a file or text given directly must hold only manifests.
    """
    return [
        parse_manifest(doc.data, source=doc.source, lines=doc.lines)
        for doc in manifest_documents(path_or_text)
    ]


@dataclass(frozen=True)
class ManifestDocument:
    """One manifest as read, before validation: its data, where it came from, its lines."""

    data: Any
    source: str | None
    lines: LineLookup


def manifest_documents(path_or_text: str | Path) -> list[ManifestDocument]:
    """The manifests :func:`load_manifests` validates, for a caller that fills or checks each itself."""
    if isinstance(path_or_text, Path) or _looks_like_path(path_or_text):
        path = Path(path_or_text)
        if path.is_dir():
            return [
                doc
                for file in _yaml_files(path)
                for doc in _text_documents(_read(file), str(file), skip_data=True)
            ]
        if not path.is_file():
            raise SpecError(
                f"no such file or folder: {path}; give a YAML file, a folder of them, or YAML text"
            )
        return _text_documents(_read(path), str(path))
    return _text_documents(path_or_text, None)


def _looks_like_path(text: str) -> bool:
    """One line without ``key: value`` (or naming something that exists) is a path, not YAML."""
    if "\n" in text or not text.strip():
        return False
    return ": " not in text or text.endswith(_SUFFIXES) or Path(text).exists()


def _yaml_files(root: Path) -> list[Path]:
    return sorted(
        file
        for file in root.rglob("*")
        if file.suffix in _SUFFIXES
        and file.is_file()
        and not any(part.startswith(".") for part in file.relative_to(root).parts)
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(
            f"not UTF-8 text ({err.reason} at byte {err.start}); save the file as UTF-8", source=str(path)
        ) from None
    except OSError as err:
        raise SpecError(f"cannot read the file: {err.strerror}", source=str(path)) from None


def _text_documents(text: str, source: str | None, *, skip_data: bool = False) -> list[ManifestDocument]:
    documents = []
    for data, lines in _documents(text, source):
        if skip_data and not (isinstance(data, dict) and ("apiVersion" in data or "kind" in data)):
            continue
        items = data.get("items") if _is_list(data) else None
        if isinstance(items, list):
            documents += [
                ManifestDocument(item, source, _shifted(lines, ("items", index)))
                for index, item in enumerate(items)
            ]
        else:
            documents.append(ManifestDocument(data, source, lines))
    return documents


def yaml_documents(text: str, source: str | None = None) -> list[Any]:
    """The YAML documents of ``text`` as plain data, read as :func:`load_manifests` reads them:
    duplicate keys and alias bombs refused (a :class:`SpecError` naming ``source`` and line)."""
    return [data for data, _lines in _documents(text, source)]


def _documents(text: str, source: str | None) -> Iterator[tuple[Any, LineLookup]]:
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node said there is one
                continue
            _refuse_duplicate_keys(node, source, budget=len(text) + 1000)
            data = loader.construct_document(node)
            if data is not None:
                yield data, _line_lookup(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = " ".join(p for p in (err.context, err.problem) if p)
        raise SpecError(
            f"YAML syntax error: {problem}; check the indentation and quoting around that line",
            source=source,
            line=mark.line + 1 if mark else None,
        ) from None
    except yaml.YAMLError as err:
        raise SpecError(f"YAML syntax error: {err}", source=source) from None
    finally:
        loader.dispose()


def _refuse_duplicate_keys(root: yaml.Node, source: str | None, *, budget: int) -> None:
    """YAML would keep the last of two equal keys silently; the Kubernetes API refuses them.

    Aliases make a node reachable many times: a document that expands past ``budget`` nodes
    (more than its text could hold without them) is an alias bomb and refused before it is
    built, as Kubernetes' YAML decoder refuses "excessive aliasing".
    """
    stack, visits = [root], 0
    while stack:
        node = stack.pop()
        visits += 1
        if visits > budget:
            raise SpecError(
                "the document contains excessive aliasing: its YAML aliases expand it past "
                f"{budget} nodes; write the values out instead of repeating anchors",
                source=source,
            )
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value != "<<":
                    line = key.start_mark.line + 1
                    if key.value in seen:
                        raise SpecError(
                            f"duplicate key {key.value!r} (first at line {seen[key.value]}); "
                            "YAML would keep only the last one: remove one of them",
                            source=source,
                            line=line,
                        )
                    seen[key.value] = line
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def _is_list(data: Any) -> bool:
    return isinstance(data, dict) and data.get("kind") == "List" and data.get("apiVersion") == "v1"


def _line_lookup(root: yaml.Node) -> LineLookup:
    """A function from a field path to the 1-based line of the deepest node on that path."""

    def line_of(loc: Sequence[str | int]) -> int | None:
        node = root
        for part in loc:
            child = _child(node, part)
            if child is None:
                break
            node = child
        return node.start_mark.line + 1

    return line_of


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == part:
                return value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        child: yaml.Node = node.value[part]
        return child
    return None


def _shifted(lines: LineLookup, prefix: tuple[str | int, ...]) -> LineLookup:
    return lambda loc: lines((*prefix, *loc))
