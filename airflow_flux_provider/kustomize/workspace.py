"""The build folder kustomize runs in: the artifact, plus the Kustomization's layers.

kustomize-controller edits ``kustomization.yaml`` at ``spec.path`` (generating it when
absent) before building. The source artifact is shared and must stay untouched, so the
artifact root is mirrored into a temporary folder with hard links (a copy when links are
not possible) and only the kustomization file at the path is rewritten there.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from airflow_flux_provider.kustomize.errors import KustomizeError
from airflow_flux_provider.kustomize.openapi import merge_onto_builtins
from airflow_flux_provider.sources.ignore import IgnoreRules
from airflow_flux_provider.specs.kustomization import KustomizationSpec

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_REMOTE_PREFIXES = ("git::", "gh:", "ssh://", "https://", "http://", "git@", "github.com:", "github.com/")
_MANIFEST_SUFFIXES = (".yaml", ".yml")
_ALIAS = re.compile(rb"\*[A-Za-z0-9_-]")
#: How many nodes a file may expand to through aliases before it counts as a YAML bomb.
MAX_EXPANDED_NODES = 100_000

#: The fields through which one kustomization reaches others (kustomize reads ``bases`` as
#: ``resources``); validation and SOPS decryption both walk the tree through them.
REFERENCE_FIELDS = ("resources", "bases", "components")


def kustomization_file(folder: Path) -> Path | None:
    """The kustomization file kustomize would read in ``folder``, if any."""
    for name in KUSTOMIZATION_FILES:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def is_remote(entry: str) -> bool:
    """Whether a resources/components entry points outside the artifact (a URL or git ref)."""
    return entry.startswith(_REMOTE_PREFIXES) or "://" in entry


def inside(root: Path, target: Path) -> bool:
    """Whether ``target`` (resolved, symlinks followed) stays in ``root``."""
    try:
        target.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


class Workspace:
    """Prepares ``<tmp>/<artifact copy>/<spec.path>`` for one build of ``obj``."""

    def __init__(
        self,
        root: Path,
        spec: KustomizationSpec,
        *,
        obj: str,
        allow_remote_bases: bool = False,
        ignore: Sequence[str] | None = None,
    ) -> None:
        self.root = root
        self.spec = spec
        self.obj = obj
        self.allow_remote_bases = allow_remote_bases
        self.ignore = ignore

    def fail(self, message: str, field: str | None = None) -> KustomizeError:
        return KustomizeError(message, obj=self.obj, field=field)

    def source_path(self) -> Path:
        """``spec.path`` inside the artifact, refusing paths that escape it."""
        if not self.root.is_dir():
            raise self.fail(f"source artifact folder {self.root} does not exist; fetch the source first")
        relative = self.spec.path.strip() or "./"
        if os.path.isabs(relative):
            raise self.fail(
                f"path {relative!r} is absolute; give a path relative to the source root, e.g. ./apps",
                "spec.path",
            )
        target = self.root / relative
        if not inside(self.root, target):
            raise self.fail(
                f"path {relative!r} escapes the source artifact root; use a folder inside the source",
                "spec.path",
            )
        if not target.is_dir():
            raise self.fail(
                f"kustomization path not found: {relative!r} is not a folder of the source; check spec.path",
                "spec.path",
            )
        return target

    def prepare(self, work: Path) -> Path:
        """Mirror the artifact into ``work`` and write the layered kustomization; returns the build folder."""
        source = self.source_path()
        self._refuse_escaping_links()
        self._refuse_alias_bombs()
        mirror = work / "src"
        shutil.copytree(self.root, mirror, symlinks=True, copy_function=_link_or_copy)
        mirror = mirror.resolve()
        folder = mirror / source.resolve().relative_to(self.root.resolve())
        rules = None if self.ignore is None else IgnoreRules.for_build(folder, self.ignore)
        existing = kustomization_file(folder)
        if existing is None:
            document = self._generate(folder, rules)
            target = folder / KUSTOMIZATION_FILES[0]
        else:
            document = self.load(existing, mirror)
            target = existing
        if existing is not None and not document.get("resources"):
            document["buildMetadata"] = ["originAnnotations"]  # Flux's workaround for an "empty" file
        if rules is not None:
            _filter_entries(document, folder, rules)
        self._check_references(folder, mirror, document)
        self._layer(document, folder, mirror)
        target.unlink(missing_ok=True)  # a hard link into the artifact: never write through it
        target.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return folder

    # -- checks ------------------------------------------------------------------------------
    def _refuse_escaping_links(self) -> None:
        for dirpath, dirnames, filenames in os.walk(self.root):
            for name in dirnames + filenames:
                entry = Path(dirpath) / name
                if entry.is_symlink() and not inside(self.root, entry):
                    raise self.fail(
                        f"{entry.relative_to(self.root)} is a symlink pointing outside the source artifact; "
                        "replace it with the file it points to"
                    )

    def _refuse_alias_bombs(self) -> None:
        """kustomize hangs on billion-laughs YAML; refuse files whose aliases expand too far."""
        for dirpath, _dirnames, filenames in os.walk(self.root):
            for name in filenames:
                if not name.endswith((*_MANIFEST_SUFFIXES, KUSTOMIZATION_FILES[2])):
                    continue
                path = Path(dirpath) / name
                data = path.read_bytes()
                if b"&" not in data or b"*" not in data or not _ALIAS.search(data):
                    continue
                try:
                    nodes = list(yaml.compose_all(data, Loader=_SafeLoader))
                except yaml.YAMLError:
                    continue  # kustomize reports malformed YAML with its own message
                if sum(_expanded_size(node, {}) for node in nodes if node is not None) > MAX_EXPANDED_NODES:
                    raise self.fail(
                        f"{path.relative_to(self.root)} uses YAML aliases that expand to more than "
                        f"{MAX_EXPANDED_NODES} nodes (a YAML bomb); "
                        "write the values out or reduce the aliases"
                    )

    def load(self, path: Path, mirror: Path) -> dict[str, Any]:
        where = path.relative_to(mirror)
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise self.fail(f"{where} is not UTF-8 text; save it as UTF-8") from None
        except yaml.YAMLError as err:
            raise self.fail(f"{where} is not valid YAML: {err}") from None
        if document is None:
            document = {}
        if not isinstance(document, dict):
            raise self.fail(f"{where} must be a mapping (apiVersion, kind, resources …)")
        return document

    def _check_references(self, folder: Path, mirror: Path, document: dict[str, Any]) -> None:
        """Follow resources/bases/components from the path: no remote entries, no escapes."""
        seen: set[Path] = set()
        queue: list[tuple[Path, dict[str, Any]]] = [(folder.resolve(), document)]
        while queue:
            here, doc = queue.pop()
            seen.add(here)
            where = (here / "kustomization.yaml").relative_to(mirror)
            self._openapi(here, mirror, doc, where)
            for key in REFERENCE_FIELDS:
                entries = doc.get(key) or []
                if not isinstance(entries, list):
                    raise self.fail(f"{where}: {key} must be a list of paths")
                for entry in entries:
                    if not isinstance(entry, str):
                        raise self.fail(f"{where}: {key} entry {entry!r} must be a path")
                    if is_remote(entry):
                        if self.allow_remote_bases:
                            continue
                        raise self.fail(
                            f"{where}: remote {key} entry {entry!r} is refused; vendor it into the "
                            "repository or allow remote bases (allow_remote_bases=True)"
                        )
                    target = here / entry
                    if not inside(mirror, target):
                        raise self.fail(
                            f"{where}: {key} entry {entry!r} escapes the source artifact root; "
                            "point it at a file inside the repository"
                        )
                    nested = kustomization_file(target) if target.is_dir() else None
                    if nested is not None and target.resolve() not in seen:
                        queue.append((target.resolve(), self.load(nested, mirror)))

    def _openapi(self, here: Path, mirror: Path, doc: dict[str, Any], where: Path) -> None:
        """A custom ``openapi.path`` schema adds to the built-in one, as in Flux; it must be a
        file of the source (kustomize would fetch a URL from the worker)."""
        openapi = doc.get("openapi")
        path = openapi.get("path") if isinstance(openapi, dict) else None
        if not isinstance(path, str) or not path:
            return
        if is_remote(path) or os.path.isabs(path):
            raise self.fail(
                f"{where}: openapi.path {path!r} must be a file in the repository; vendor the schema"
            )
        target = here / path
        if not inside(mirror, target):
            raise self.fail(f"{where}: openapi.path {path!r} escapes the source artifact root")
        merge_onto_builtins(target, where=str(where), obj=self.obj)

    # -- generation and layering -------------------------------------------------------------
    def _generate(self, folder: Path, rules: IgnoreRules | None) -> dict[str, Any]:
        """kustomize-controller's generated kustomization: every manifest and kustomization folder
        in Go's walk order (depth first, names in byte order); ``flux build`` leaves out the files
        its ignore ``rules`` match."""
        resources: list[str] = []

        def walk(here: Path) -> None:
            for name in sorted(os.listdir(here)):
                path = here / name
                relative = path.relative_to(folder).as_posix()
                if path.is_dir() and not path.is_symlink():
                    if kustomization_file(path) is not None:
                        resources.append(f"./{relative}")
                    else:
                        walk(path)
                elif name.endswith(_MANIFEST_SUFFIXES) and not (rules and rules(relative, False)):
                    self._check_manifest(path, folder)
                    resources.append(f"./{relative}")

        walk(folder)
        document: dict[str, Any] = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
        if resources:
            document["resources"] = resources
        else:
            document["namespace"] = "_placeholder"
        return document

    def _check_manifest(self, path: Path, folder: Path) -> None:
        where = path.relative_to(folder)
        try:
            documents = list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=_SafeLoader))
        except UnicodeDecodeError:
            raise self.fail(
                f"failed to decode Kubernetes YAML from {where}: not UTF-8 text; save it as UTF-8"
            ) from None
        except yaml.YAMLError as err:
            raise self.fail(f"failed to decode Kubernetes YAML from {where}: {err}") from None
        for document in documents:
            if document is None:
                continue
            if not isinstance(document, dict) or not document.get("apiVersion") or not document.get("kind"):
                raise self.fail(
                    f"failed to decode Kubernetes YAML from {where}: every document needs "
                    "apiVersion and kind; "
                    "move other YAML out of the path or add a kustomization.yaml"
                )

    def _layer(self, document: dict[str, Any], folder: Path, mirror: Path) -> None:
        spec = self.spec
        document.setdefault("apiVersion", "kustomize.config.k8s.io/v1beta1")
        document.setdefault("kind", "Kustomization")
        if spec.target_namespace:
            document["namespace"] = spec.target_namespace
        if spec.name_prefix:
            document["namePrefix"] = spec.name_prefix
        if spec.name_suffix:
            document["nameSuffix"] = spec.name_suffix
        if spec.patches:
            existing = document.get("patches") or []
            document["patches"] = [
                *existing,
                *(p.model_dump(by_alias=True, exclude_none=True) for p in spec.patches),
            ]
        components = [c for c in spec.components if self._component(c, folder, mirror)]
        if components:
            document["components"] = [*(document.get("components") or []), *components]
        if spec.images:
            document["images"] = _merge_images(document.get("images") or [], spec)
        if spec.build_metadata:
            document["buildMetadata"] = list(spec.build_metadata)
        # kubectl kustomize sorts by kind ("legacy"); Flux's kustomizer keeps input order.
        document.setdefault("sortOptions", {"order": "fifo"})

    def _component(self, entry: str, folder: Path, mirror: Path) -> bool:
        """Whether to add a spec component: local and relative (else refused), present unless
        ``ignoreMissingComponents`` (a missing one fails in kustomize, where Flux reports it)."""
        local = entry[len("file://") :] if entry.lower().startswith("file://") else entry
        if entry.lower().startswith(_REMOTE_PREFIXES) or os.path.isabs(local):
            raise self.fail(
                f"component path {entry!r} must be local and relative to spec.path, e.g. ../components/x",
                "spec.components",
            )
        target = folder / entry
        if not inside(mirror, target) or not inside(mirror, folder / local):
            raise self.fail(f"component {entry!r} escapes the source artifact root", "spec.components")
        return target.exists() or not self.spec.ignore_missing_components


def _filter_entries(document: dict[str, Any], folder: Path, rules: IgnoreRules) -> None:
    """``flux build``'s ignore filter on the kustomization's own resources, components and crds
    (URLs and entries outside the folder pass; missing ones are left for kustomize to report)."""
    for key in ("resources", "components", "crds"):
        entries = document.get(key)
        if not isinstance(entries, list):
            continue
        kept = []
        for entry in entries:
            path = folder / str(entry)
            relative = os.path.relpath(path, folder)
            if (
                isinstance(entry, str)
                and not (key != "crds" and is_remote(entry))
                and not relative.startswith("..")
                and (path.exists() or path.is_symlink())
                and rules(Path(relative).as_posix(), path.is_dir())
            ):
                continue
            kept.append(entry)
        document[key] = kept


def _merge_images(existing: list[dict[str, Any]], spec: KustomizationSpec) -> list[dict[str, Any]]:
    """Flux's image merge: same name updates in place (tag and digest move together)."""
    images = [dict(entry) for entry in existing]
    for override in spec.images:
        entry = next((e for e in images if e.get("name") == override.name), None)
        if entry is None:
            images.append(override.model_dump(by_alias=True, exclude_none=True))
            continue
        if override.new_name:
            entry["newName"] = override.new_name
        if override.new_tag or override.digest:
            entry.pop("newTag", None)
            entry.pop("digest", None)
            if override.new_tag:
                entry["newTag"] = override.new_tag
            if override.digest:
                entry["digest"] = override.digest
    return images


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Node count with every alias expanded, computed on the shared graph (never expanded)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # cycles count once
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    memo[key] = min(size, MAX_EXPANDED_NODES + 1)
    return memo[key]


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        with contextlib.suppress(shutil.SameFileError):
            shutil.copy2(src, dst)


class _SafeLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The fast safe loader (libyaml) when available."""
