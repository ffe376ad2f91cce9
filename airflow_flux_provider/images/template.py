"""Commit message templates: Flux's template data, rendered with Go's text/template.

The template language (Go syntax and sprig's hermetic functions) lives in
:mod:`airflow_flux_provider.images.gotemplate`; this module builds the data Flux gives a
template (``.AutomationObject``, ``.Changed``, ``.Values``; ``.Updated`` for automations
older than image.toolkit.fluxcd.io/v1) and maps Go's errors to Flux's: a template using a
removed field fails with Flux's own "template uses removed ..." message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_flux_provider.images import gotemplate
from airflow_flux_provider.images.gotemplate import TemplateError
from airflow_flux_provider.images.gotemplate.parse import Tree
from airflow_flux_provider.images.policy import PolicyResult
from airflow_flux_provider.images.setters import ObjectId, UpdateResult
from airflow_flux_provider.oci.reference import DOCKER_HUB, ImageReference

DEFAULT_MESSAGE = "Update from image update automation"
_DOCS = "See: https://fluxcd.io/flux/components/image/imageupdateautomations/#message-template"
_REMOVED = {
    "can't evaluate field Updated in type source.TemplateData": (
        f"template uses removed '.Updated' field. Please use '.Changed' instead. {_DOCS}"
    ),
    "can't evaluate field ImageResult in type update.Result": (
        "template uses removed '.Changed.ImageResult' field. "
        f"Please use '.Changed.FileChanges' or '.Changed.Objects' instead. {_DOCS}"
    ),
}


class GoMap(dict[Any, Any]):
    """A Go map of a named type: ``index`` of a missing key gives the type's zero value."""

    def __init__(self, items: Mapping[Any, Any], go_type: str, zero: Any) -> None:
        super().__init__(items)
        self.GO_TYPE, self.zero = go_type, zero


def parse(template: str | None) -> Tree:
    """Parse a message template (Flux's default message when empty); errors name the field."""
    return gotemplate.parse(template or DEFAULT_MESSAGE)


def render(template: str | None, data: Any) -> str:
    """Render ``template`` (Flux's default message when empty) with ``data``."""
    try:
        return gotemplate.execute(parse(template), data)
    except TemplateError as err:
        for needle, message in _REMOVED.items():
            if needle in err.message:
                raise TemplateError(message, field=err.field) from None
        raise


# --- Flux's template data ------------------------------------------------------------


@dataclass(frozen=True)
class NamespacedName:
    Namespace: str
    Name: str

    GO_TYPE: ClassVar[str] = "types.NamespacedName"

    def __str__(self) -> str:
        return f"{self.Namespace}/{self.Name}"


@dataclass(frozen=True)
class TemplateData:
    """What ``{{ . }}`` is in a commit template; ``Updated`` only for pre-v1 automations."""

    AutomationObject: NamespacedName
    Changed: Any
    Values: dict[str, str]

    GO_TYPE: ClassVar[str] = "source.TemplateData"


@dataclass(frozen=True)
class LegacyTemplateData(TemplateData):
    Updated: Any = None


@dataclass(frozen=True)
class ChangeView:
    """Flux's ``update.Change``."""

    OldValue: str
    NewValue: str
    Setter: str

    GO_TYPE: ClassVar[str] = "update.Change"

    def __str__(self) -> str:
        return f"{{{self.OldValue} {self.NewValue} {self.Setter}}}"


@dataclass(frozen=True)
class ChangedData:
    """``.Changed`` (Flux's ``update.Result``): changes by file and object."""

    FileChanges: dict[str, dict[ObjectId, list[ChangeView]]]

    GO_TYPE: ClassVar[str] = "update.Result"

    @property
    def Objects(self) -> dict[ObjectId, list[ChangeView]]:
        merged: dict[ObjectId, list[ChangeView]] = {}
        for objects in self.FileChanges.values():
            for obj, changes in objects.items():
                merged.setdefault(obj, []).extend(changes)
        return _object_changes(merged)

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

    GO_TYPE: ClassVar[str] = "update.imageRef"

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
        """As go-containerregistry prints it: Docker Hub is ``index.docker.io``."""
        registry = self._parsed.registry
        return "index.docker.io" if registry == DOCKER_HUB else registry

    @property
    def Repository(self) -> str:
        return self._parsed.repository

    @property
    def _parsed(self) -> ImageReference:
        return ImageReference.parse(self.result.image, error=TemplateError)

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


def _object_changes(changes: Mapping[ObjectId, list[ChangeView]]) -> GoMap:
    return GoMap(changes, "update.ObjectChanges", [])  # a missing object: a nil []Change, printed []


def template_data(
    automation: NamespacedName, result: UpdateResult, values: Mapping[str, str] | None = None, *, legacy: bool
) -> TemplateData:
    """Flux's template data for one Setters run (``legacy`` adds ``.Updated``, as before v1)."""
    changed: dict[str, dict[ObjectId, list[ChangeView]]] = {}
    updated: dict[str, FileResult] = {}
    for c in sorted(result.changes, key=lambda c: (c.file, c.line)):
        changed.setdefault(c.file, {}).setdefault(c.object, []).append(ChangeView(c.old, c.new, c.setter))
        namespace, name = c.setter.split(":")[:2]
        ref = ImageRef(c.image, NamespacedName(namespace, name))
        updated.setdefault(c.file, FileResult({})).Objects.setdefault(c.object, []).append(ref)
    by_file = {file: _object_changes(objects) for file, objects in changed.items()}
    files = GoMap(by_file, "map[string]update.ObjectChanges", _object_changes({}))  # nil map: map[]
    data = ChangedData(files)
    string_map = GoMap(values or {}, "map[string]string", "")
    if legacy:
        return LegacyTemplateData(automation, data, string_map, UpdatedData(updated))
    return TemplateData(automation, data, string_map)
