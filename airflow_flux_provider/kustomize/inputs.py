"""The files one Kustomization reads from its source, digested.

A commit usually touches one app's folder, yet every Kustomization on that source sees a new
revision. Keying a render by the digest of only what it reads (instead of the whole source)
lets the other Kustomizations reuse their render, and their reconcile then finds the
manifests it last applied and skips (see :func:`airflow_flux_provider.kube.reconcile.apply_and_prune`).

The walk is broad on purpose: everything below ``spec.path`` and below each spec component,
and every string in a kustomization file that names a file or folder of the source (resources,
components, patches, generator files, openapi, crds, configurations …), folders with all they
hold. Reading too much costs a render; reading too little would hide a change. A remote
reference or Helm chart inflation (files kustomize fetches itself) makes the inputs unknowable.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import yaml

from airflow_flux_provider.kustomize.workspace import KUSTOMIZATION_FILES, inside, is_remote

#: Kustomization keys whose inputs come from outside the source.
_FETCHING_KEYS = {"helmCharts", "helmChartInflationGenerator", "helmGlobals"}
_MAX_NAME = 4096


def inputs_digest(root: Path, path: str, components: Sequence[str] = ()) -> str | None:
    """``sha256:<hex>`` of the names and contents of the files a build at ``path`` reads, or
    ``None`` when that cannot be known (a remote reference, a link leaving the source)."""
    root = root.resolve()
    start = root / (path.strip() or ".")
    queue = [start, *(start / c.removeprefix("file://") for c in components)]
    seen: set[Path] = set()
    files: set[Path] = set()
    while queue:
        target = queue.pop().resolve()
        if target in seen:
            continue
        seen.add(target)
        if not inside(root, target):
            return None
        if target.is_file():
            files.add(target)
            continue
        for dirpath, dirnames, filenames in os.walk(target):
            folder = Path(dirpath)
            queue.extend(folder / name for name in dirnames if (folder / name).is_symlink())
            for name in filenames:
                file = (folder / name).resolve()
                if not inside(root, file):
                    return None
                if not file.is_file():
                    continue  # a dangling link: the build reports it
                files.add(file)
                if name in KUSTOMIZATION_FILES:
                    references = _references(file)
                    if references is None:
                        return None
                    queue.extend(_existing(folder, references))
    return _digest(root, files)


def _references(file: Path) -> list[str] | None:
    """Every scalar of a kustomization file (scanned, not composed: aliases are never expanded)."""
    values: list[str] = []
    try:
        for token in yaml.scan(file.read_text(encoding="utf-8"), Loader=yaml.SafeLoader):
            if isinstance(token, yaml.ScalarToken):
                if token.plain and token.value in _FETCHING_KEYS:
                    return None
                values.append(token.value)
    except (UnicodeDecodeError, yaml.YAMLError):
        return values  # the build itself reports the broken file; it reads nothing else from it
    if any(is_remote(value) for value in values):
        return None
    return values


def _existing(folder: Path, values: list[str]) -> list[Path]:
    """The values (and the path of ``key=path`` generator entries) naming something in the source."""
    found = []
    for value in values:
        for candidate in {value, value.partition("=")[2]}:
            if not candidate or "\n" in candidate or len(candidate) > _MAX_NAME or os.path.isabs(candidate):
                continue
            target = folder / candidate
            if target.exists():
                found.append(target)
    return found


def _digest(root: Path, files: set[Path]) -> str:
    hasher = hashlib.sha256()
    for rel, file in sorted((f.relative_to(root).as_posix().encode(), f) for f in files):
        content = file.read_bytes()
        hasher.update(b"%d:%s%d:" % (len(rel), rel, len(content)))
        hasher.update(content)
    return f"sha256:{hasher.hexdigest()}"
