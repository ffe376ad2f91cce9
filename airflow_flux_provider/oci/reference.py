"""Image references (``[registry/]repository[:tag][@digest]``), parsed as Docker and Flux do.

One parser for every place a reference is read: ImageRepository ``spec.image``, OCIRepository
and OCI HelmRepository URLs, and the images the commit template describes. The grammar is
distribution's (lowercase path components joined by ``.``, ``_``, ``__`` or dashes, tags of
at most 128 word characters, ``algorithm:hex`` digests) with Docker's normalisation: a first
component without ``.`` or ``:`` (and not ``localhost``) is a Docker Hub path, ``index.docker.io``
is ``docker.io``, and an official image gets ``library/``. The grammar runs on RE2 (linear time).
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.oci.errors import ImageReferenceError
from airflow_flux_provider.patterns import regex

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
MAX_NAME = 255  # distribution's NameTotalLengthMax
_COMPONENT = regex(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_HOST = regex(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
)
_TAG = regex(r"[\w][\w.-]{0,127}")
_DIGEST = regex(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_SHA256 = regex(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class ImageReference:
    """A parsed reference; ``registry`` is as Docker names it (``docker.io`` for Docker Hub)."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        obj: str | None = None,
        field: str | None = None,
        error: type[FluxError] = ImageReferenceError,
        what: str = "image",
        scheme: str = "",
    ) -> ImageReference:
        """``text`` parsed; a bad one raises ``error`` naming ``obj``, ``field`` and the rule it breaks.

        ``what`` and ``scheme`` say how the value is shown in the message (``url 'oci://…'``).
        """

        def bad(problem: str) -> FluxError:
            shown = scheme + (text if len(text) <= 300 else f"{text[:300]}…")
            return error(f"{what} {shown!r} {problem}", obj=obj, field=field)

        if not text:
            raise bad("is empty; write e.g. ghcr.io/org/app")
        if "://" in text:
            raise bad("must not have a scheme; write e.g. ghcr.io/org/app")
        if len(text) > MAX_NAME + 300:
            raise bad(f"is longer than {MAX_NAME} characters plus a tag and digest")
        name, at, digest = text.partition("@")
        if at and not _DIGEST.fullmatch(digest):
            raise bad("has a digest that is not <algorithm>:<hex> (e.g. sha256: and 64 hex digits)")
        if at and digest.startswith("sha256:") and not _SHA256.fullmatch(digest):
            raise bad("has a sha256 digest that is not 64 lower-case hex digits")
        slash = name.rfind("/")
        colon = name.rfind(":")
        tag = None
        if colon > slash:
            name, tag = name[:colon], name[colon + 1 :]
            if not _TAG.fullmatch(tag):
                raise bad(
                    "has a tag that is not up to 128 letters, digits, '_', '.' or '-' "
                    "(not starting with '.' or '-')"
                )
        registry, repository = _split_registry(name)
        if not _HOST.fullmatch(registry):
            raise bad(f"names registry {registry!r}, which is not a host[:port]")
        if len(f"{registry}/{repository}") > MAX_NAME:
            raise bad(f"has a name longer than {MAX_NAME} characters")
        parts = repository.split("/")
        if any(not _COMPONENT.fullmatch(p) for p in parts):
            raise bad(
                "is not a valid repository name: lower-case letters and digits separated by '.', '_', "
                "'__' or '-', path parts joined by '/' (e.g. ghcr.io/org/app)"
            )
        return cls(registry, repository, tag, digest or None)

    @classmethod
    def registry_or_repository(cls, text: str, *, obj: str, field: str) -> ImageReference:
        """``host[:port]`` alone (the repository left empty) or a repository on it, as a
        registry connection names it; ``oci://`` is accepted in front."""
        text = text.strip().removeprefix("oci://").rstrip("/")
        if "/" in text:
            return cls.parse(text, obj=obj, field=field, what="registry")
        if len(text) > MAX_NAME or not _HOST.fullmatch(text):
            raise ImageReferenceError(
                f"registry {text[:300]!r} is not a host[:port] (e.g. ghcr.io or 127.0.0.1:5000)",
                obj=obj,
                field=field,
            )
        registry = DOCKER_HUB if text in ("index.docker.io", DOCKER_HUB_API) else text
        return cls(registry, "")

    @property
    def name(self) -> str:
        """``registry/repository``: the repository without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        """The host serving the registry API (Docker Hub's is not ``docker.io``)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    def at(self, reference: str) -> ImageReference:
        """This repository at ``reference``: a digest (``algo:hex``) or a tag."""
        if ":" in reference:
            return ImageReference(self.registry, self.repository, None, reference)
        return ImageReference(self.registry, self.repository, reference, None)

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def _split_registry(name: str) -> tuple[str, str]:
    """Docker's rule for where the registry ends (and Docker Hub's ``library/`` for official images)."""
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, name
    if registry in ("index.docker.io", DOCKER_HUB_API):
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    return registry, repository
