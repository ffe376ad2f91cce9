"""ImageRepository scanning: list an image's tags over the OCI distribution API.

What image-reflector-controller does for a scan, in plain ``requests``: normalise the
name as Docker does (``nginx`` is ``docker.io/library/nginx``, served by
``registry-1.docker.io``), answer a 401 challenge with basic auth or with a bearer token
fetched from the challenge's realm/service/scope, follow ``Link`` pagination, and drop
tags matched by ``exclusionList`` (Flux's default drops cosign ``.sig`` tags).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urljoin

import requests

from airflow_flux_provider.credentials import ANONYMOUS, Credentials, ca_bundle
from airflow_flux_provider.images.errors import ImageError
from airflow_flux_provider.patterns import regex
from airflow_flux_provider.specs.images import ImageRepository

DEFAULT_EXCLUSIONS = (r"^.*\.sig$",)
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
PAGE_SIZE = 1000
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True, slots=True)
class ImageName:
    """A repository reference split the way Docker resolves it."""

    registry: str
    repository: str

    @classmethod
    def parse(cls, image: str, *, obj: str = "ImageRepository") -> ImageName:
        first, sep, rest = image.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost"):
            registry, repository = first, rest
        else:
            registry, repository = DOCKER_HUB, image
        if registry in ("index.docker.io", "registry-1.docker.io"):
            registry = DOCKER_HUB
        if registry == DOCKER_HUB and "/" not in repository:
            repository = f"library/{repository}"
        if not re.fullmatch(
            r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*", repository
        ):
            raise ImageError(
                f"image {image!r} is not a valid repository name (lowercase path, no tag); "
                "write e.g. ghcr.io/org/app",
                obj=obj,
                field="spec.image",
            )
        return cls(registry, repository)

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}"


@dataclass
class RegistryClient:
    """Registry v2 calls for one ImageRepository: auth challenges, TLS options, timeouts."""

    credentials: Credentials = ANONYMOUS
    insecure: bool = False
    timeout: float = 30.0
    obj: str = "ImageRepository"
    page_size: int = PAGE_SIZE
    session: requests.Session = field(default_factory=requests.Session)
    _tokens: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.credentials.ca_cert:
            self.session.verify = ca_bundle(self.credentials.ca_cert)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def base_url(self, name: ImageName) -> str:
        scheme = "http" if self.insecure else "https"
        return f"{scheme}://{name.api_host}/v2/{name.repository}/"

    def list_tags(self, image: str | ImageName) -> list[str]:
        """Every tag of ``image``, following ``Link: <...>; rel="next"`` pages."""
        name = image if isinstance(image, ImageName) else ImageName.parse(image, obj=self.obj)
        url: str | None = urljoin(self.base_url(name), f"tags/list?n={self.page_size}")
        tags: list[str] = []
        while url:
            response = self._get(url, name, what="tag list")
            try:
                page = response.json().get("tags") or []
            except (ValueError, AttributeError):
                raise ImageError(
                    f"{name}: the registry answered a tag list that is not JSON", obj=self.obj
                ) from None
            tags.extend(str(t) for t in page)
            nxt = response.links.get("next", {}).get("url")
            url = urljoin(url, nxt) if nxt else None
        return tags

    def digest(self, image: str | ImageName, tag: str) -> str:
        """The manifest digest of ``image:tag`` (for ``digestReflectionPolicy``)."""
        name = image if isinstance(image, ImageName) else ImageName.parse(image, obj=self.obj)
        url = urljoin(self.base_url(name), f"manifests/{tag}")
        response = self._get(url, name, what=f"manifest of tag {tag}", method="HEAD")
        digest = response.headers.get("Docker-Content-Digest")
        if not digest:
            raise ImageError(f"{name}:{tag}: the registry did not report a manifest digest", obj=self.obj)
        return digest

    def _get(self, url: str, name: ImageName, *, what: str, method: str = "GET") -> requests.Response:
        scope = f"repository:{name.repository}:pull"
        headers = {"Accept": MANIFEST_TYPES}
        if scope in self._tokens:
            headers["Authorization"] = f"Bearer {self._tokens[scope]}"
        response = self._send(method, url, name, what, headers)
        if response.status_code == 401:
            challenge = response.headers.get("WWW-Authenticate", "")
            if challenge.lower().startswith("bearer"):
                self._tokens[scope] = self._token(challenge, name, scope)
                headers["Authorization"] = f"Bearer {self._tokens[scope]}"
                response = self._send(method, url, name, what, headers)
            elif self.credentials.basic_auth is not None:
                response = self._send(method, url, name, what, headers, auth=self.credentials.basic_auth)
        self._raise_for(response, name, what)
        return response

    def _token(self, challenge: str, name: ImageName, scope: str) -> str:
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        realm = params.pop("realm", "")
        if not realm:
            raise ImageError(f"{name}: the registry's bearer challenge names no realm", obj=self.obj)
        query = {"service": params.get("service", ""), "scope": params.get("scope", scope)}
        response = self._send(
            "GET", realm, name, "token request", {}, params=query, auth=self.credentials.basic_auth
        )
        self._raise_for(response, name, "token request")
        try:
            body = response.json()
            token = body.get("token") or body.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise ImageError(f"{name}: the token service at {realm} answered no token", obj=self.obj)
        return token

    def _send(
        self, method: str, url: str, name: ImageName, what: str, headers: dict[str, str], **kwargs: Any
    ) -> requests.Response:
        try:
            return self.session.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
        except requests.Timeout:
            raise ImageError(
                f"{name}: {what} timed out after {self.timeout:g}s; raise spec.timeout or check the registry",
                obj=self.obj,
            ) from None
        except requests.exceptions.SSLError:
            raise ImageError(
                f"{name}: TLS verification of {name.api_host} failed; set certSecretRef to its CA "
                "(or insecure: true for a plain-HTTP registry)",
                obj=self.obj,
            ) from None
        except requests.RequestException as err:
            raise ImageError(
                f"{name}: cannot reach {name.api_host} ({type(err).__name__}); check the host, or "
                "insecure: true for a plain-HTTP registry",
                obj=self.obj,
            ) from None

    def _raise_for(self, response: requests.Response, name: ImageName, what: str) -> None:
        status = response.status_code
        if status < 400:
            return
        codes = _error_codes(response)
        detail = f" ({codes})" if codes else ""
        if status in (401, 403):
            fix = "check the credentials in secretRef" if self.credentials.basic_auth else "set secretRef"
            message = f"{name}: the registry refused the {what} with {status}{detail}; {fix}"
        elif status == 404:
            message = f"{name}: {what} not found (404){detail}; check spec.image"
        elif status == 429:
            message = f"{name}: rate-limited by the registry (429); scan less often (spec.interval)"
        else:
            message = f"{name}: the registry answered {status} to the {what}{detail}; retry later"
        raise ImageError(self.credentials.scrub(message), obj=self.obj)


def _error_codes(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors") or []
        return ", ".join(str(e.get("code")) for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        return ""


@dataclass(frozen=True)
class ScanResult:
    """One scan: the canonical image and its tags after ``exclusionList``."""

    image: str
    canonical: str
    tags: list[str]

    def to_bytes(self) -> bytes:
        """The stored tag-list artifact: sorted JSON, so equal scans have equal digests."""
        return json.dumps({"image": self.canonical, "tags": sorted(self.tags)}, indent=0).encode()

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_bytes(cls, data: bytes, image: str = "") -> ScanResult:
        body = json.loads(data)
        return cls(image or body["image"], body["image"], list(body["tags"]))


def exclude(
    tags: list[str], patterns: list[str] | tuple[str, ...], *, obj: str = "ImageRepository"
) -> list[str]:
    """Drop tags any ``exclusionList`` regex matches (anywhere in the tag, as Go's MatchString)."""
    compiled = [
        regex(p, obj=obj, field=f"spec.exclusionList[{i}]", error=ImageError) for i, p in enumerate(patterns)
    ]
    return [t for t in tags if not any(r.search(t) for r in compiled)]


def scan(
    image: str,
    *,
    credentials: Credentials = ANONYMOUS,
    insecure: bool = False,
    timeout: float = 30.0,
    exclusion_list: list[str] | tuple[str, ...] = DEFAULT_EXCLUSIONS,
    obj: str = "ImageRepository",
) -> ScanResult:
    """Scan ``image`` as an ImageRepository would (see :meth:`RegistryClient.list_tags`)."""
    name = ImageName.parse(image, obj=obj)
    with RegistryClient(credentials, insecure=insecure, timeout=timeout, obj=obj) as client:
        tags = client.list_tags(name)
    return ScanResult(image, str(name), exclude(tags, exclusion_list, obj=obj))


def save_tags(result: ScanResult, folder: Path) -> Path:
    """Write the tag list under ``folder`` named by its digest (same scan, same file)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result.digest.removeprefix('sha256:')}.json"
    if not path.exists():
        path.write_bytes(result.to_bytes())
    return path


def scan_repository(repository: ImageRepository, credentials: Credentials = ANONYMOUS) -> ScanResult:
    """Scan as the ImageRepository says (insecure, timeout, exclusionList); obj errors name it."""
    spec = repository.spec
    return scan(
        spec.image,
        credentials=credentials,
        insecure=spec.insecure or credentials.insecure,
        timeout=spec.timeout.total_seconds() or 30.0,
        exclusion_list=spec.exclusion_list,
        obj=repository.ref,
    )
