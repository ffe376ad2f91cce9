"""Writing a ``{relative path: content}`` mapping into a folder (repo seeds, chart templates)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from flux_devkit.services.process import ServiceError


def write_tree(root: Path, files: Mapping[str, str | bytes], *, obj: str) -> None:
    """Write each file under ``root``; a path that would land outside ``root`` is refused."""
    for rel, content in files.items():
        parts = PurePosixPath(rel).parts
        if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
            raise ServiceError(f"file path {rel!r} must be relative and stay inside the tree", obj=obj)
        target = root.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)
