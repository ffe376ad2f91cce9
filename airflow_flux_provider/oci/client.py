"""One client for OCI registries (the distribution API): image scans, OCIRepository, OCI Helm charts.

Registries and their token services are outside input, so the client trusts none of
their answers:

- a ``401`` with a Bearer challenge is answered with a token from the challenge's realm, and
  the connection's username/password go to that realm only when it is on the registry's own
  site (the same host, or a sibling under the registry's parent domain as Docker Hub's
  ``auth.docker.io``) and over HTTPS unless the registry itself is plain HTTP; a Basic
  challenge gets them from the registry itself;
- ``Link: <…>; rel="next"`` pages are followed only on the registry's own origin;
- every body is read with a cap while it streams: tag lists and manifests by fixed limits,
  blobs by the caller's limit and the size their descriptor declares, their digest checked
  as the bytes arrive; nothing is downloaded in full before it is measured;
- redirects (blob storage on a CDN) are followed by ``requests``, which drops the
  ``Authorization`` header when the host changes.

Errors are the :mod:`.errors` family, naming the object and the fields in :class:`RegistryBlame`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from ipaddress import ip_address
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from airflow_flux_provider.credentials import ANONYMOUS, Credentials, ca_bundle
from airflow_flux_provider.oci.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryNotFoundError,
    RegistryTooLargeError,
    RegistryUnreachableError,
)
from airflow_flux_provider.oci.reference import ImageReference

PAGE_SIZE = 1000
MAX_MANIFEST = 4 << 20  # containerd's cap on a manifest
MAX_TAG_PAGE = 16 << 20  # one page of a tag list
MAX_TAGS = 100_000
MAX_TOKEN_RESPONSE = 1 << 20
_CHUNK = 1 << 16
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_TYPES = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class RegistryBlame:
    """The spec fields an error points at: the repository, the tag or digest, credentials and TLS."""

    repository: str = "spec.image"
    reference: str = "spec.image"
    credentials: str = "spec.secretRef"
    tls: str = "spec.certSecretRef"


@dataclass(frozen=True)
class Descriptor:
    """A manifest's pointer to a blob (a layer or config)."""

    media_type: str
    digest: str
    size: int

    @classmethod
    def parse(cls, data: Any) -> Descriptor | None:
        """The descriptor in ``data``, or None when it is not one (wrong types, not a sha256 digest)."""
        if not isinstance(data, dict):
            return None
        digest, size, media_type = data.get("digest"), data.get("size"), data.get("mediaType", "")
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            return None
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or not isinstance(media_type, str):
            return None
        return cls(media_type, digest, size)


class RegistryClient:
    """Calls to one or more repositories with one set of credentials; use as a context manager."""

    def __init__(
        self,
        credentials: Credentials = ANONYMOUS,
        *,
        insecure: bool = False,
        timeout: float = 30.0,
        obj: str = "ImageRepository",
        blame: RegistryBlame = RegistryBlame(),
        page_size: int = PAGE_SIZE,
        session: requests.Session | None = None,
    ) -> None:
        self.credentials, self.insecure, self.timeout = credentials, insecure, timeout
        self.obj, self.blame, self.page_size = obj, blame, page_size
        self.session = session or requests.Session()
        if credentials.ca_cert:
            self.session.verify = ca_bundle(credentials.ca_cert)
        self._tokens: dict[tuple[str, str], str] = {}

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def base_url(self, ref: ImageReference) -> str:
        scheme = "http" if self.insecure else "https"
        return f"{scheme}://{ref.api_host}/v2/{ref.repository}/"

    # -- the API ---------------------------------------------------------------------------

    def list_tags(self, ref: ImageReference) -> list[str]:
        """Every tag of ``ref``'s repository, following ``rel="next"`` pages on the registry only."""
        base = self.base_url(ref)
        url: str | None = urljoin(base, f"tags/list?n={self.page_size}")
        tags: list[str] = []
        while url:
            with self._get(url, ref, "tag list", blamed="repository") as response:
                page = self._json(self._read(response, ref, "tag list", MAX_TAG_PAGE), ref, "tag list")
                nxt = response.links.get("next", {}).get("url")
            listed = page.get("tags") if isinstance(page, dict) else None
            tags.extend(str(t) for t in listed or [] if isinstance(t, str))
            if len(tags) > MAX_TAGS:
                raise self._error(
                    RegistryTooLargeError, ref, f"the repository lists more than {MAX_TAGS} tags", "reference"
                )
            url = self._next_page(base, url, nxt, ref) if nxt else None
        return tags

    def resolve(self, ref: ImageReference) -> str:
        """The manifest digest ``ref`` points at: its own digest, else the registry's answer to a HEAD."""
        if ref.digest:
            with self._get(self._manifest_url(ref), ref, f"manifest {ref.digest}", method="HEAD"):
                return ref.digest
        with self._get(self._manifest_url(ref), ref, f"manifest of tag {ref.tag}", method="HEAD") as response:
            digest = response.headers.get("Docker-Content-Digest", "")
        if _DIGEST.fullmatch(digest):
            return digest
        _, digest = self.manifest(ref)
        return digest

    def manifest(self, ref: ImageReference) -> tuple[dict[str, Any], str]:
        """The manifest ``ref`` points at (as JSON) and its digest, checked against ``ref.digest``."""
        what = f"manifest {ref.digest}" if ref.digest else f"manifest of tag {ref.tag}"
        with self._get(self._manifest_url(ref), ref, what) as response:
            body = self._read(response, ref, what, MAX_MANIFEST)
        digest = f"sha256:{hashlib.sha256(body).hexdigest()}"
        if ref.digest and ref.digest != digest:
            raise self._error(
                RegistryError,
                ref,
                f"the {what} arrived with digest {digest}; the registry content is corrupt",
            )
        manifest = self._json(body, ref, what)
        if not isinstance(manifest, dict):
            raise self._error(RegistryError, ref, f"the {what} is not a JSON object")
        return manifest, digest

    def blob(self, ref: ImageReference, blob: Descriptor, *, limit: int) -> bytes:
        """The blob's bytes, read while counting (never past ``limit`` or its declared size) and hashing."""
        what = f"blob {blob.digest}"
        if blob.size > limit:
            raise self._error(
                RegistryTooLargeError, ref, f"{what} has {blob.size} bytes, over the limit of {limit}"
            )
        with self._get(urljoin(self.base_url(ref), f"blobs/{blob.digest}"), ref, what) as response:
            data = self._read(response, ref, what, blob.size, declared=True)
        if len(data) != blob.size or f"sha256:{hashlib.sha256(data).hexdigest()}" != blob.digest:
            raise self._error(
                RegistryError,
                ref,
                f"{what} arrived with a different size or digest; the registry content is corrupt",
            )
        return data

    # -- HTTP -------------------------------------------------------------------------------

    def _manifest_url(self, ref: ImageReference) -> str:
        return urljoin(self.base_url(ref), f"manifests/{ref.digest or ref.tag or 'latest'}")

    def ping(self, ref: ImageReference) -> None:
        """``GET /v2/`` as ``docker login`` does: the registry answers and accepts the credentials.

        The token, if the registry asks for one, is requested with pull scope on ``ref``'s
        repository, so a connection check proves what a scan of that repository would need.
        """
        scheme = "http" if self.insecure else "https"
        self._get(f"{scheme}://{ref.api_host}/v2/", ref, "registry check").close()

    def _get(
        self, url: str, ref: ImageReference, what: str, *, method: str = "GET", blamed: str = "reference"
    ) -> requests.Response:
        """A streamed response to ``url``, after answering an auth challenge; errors raised by status."""
        scope = f"repository:{ref.repository}:pull" if ref.repository else ""
        key = (ref.api_host, scope)
        headers = {"Accept": MANIFEST_TYPES}
        if key in self._tokens:
            headers["Authorization"] = f"Bearer {self._tokens[key]}"
        response = self._send(method, url, ref, what, headers)
        if response.status_code == 401:
            challenge = response.headers.get("WWW-Authenticate", "")
            response.close()
            if challenge.lower().startswith("bearer"):
                self._tokens[key] = self._token(challenge, ref, scope)
                headers["Authorization"] = f"Bearer {self._tokens[key]}"
                response = self._send(method, url, ref, what, headers)
            elif self.credentials.basic_auth is not None:
                response = self._send(method, url, ref, what, headers, auth=self.credentials.basic_auth)
        self._raise_for(response, ref, what, blamed)
        return response

    def _token(self, challenge: str, ref: ImageReference, scope: str) -> str:
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        realm = params.pop("realm", "")
        if not realm:
            raise self._error(
                RegistryError,
                ref,
                "the registry's bearer challenge names no realm; check that the URL points at a registry",
            )
        auth = self.credentials.basic_auth
        if auth is not None:
            self._check_realm(realm, ref)
        query = {"service": params.get("service", ""), "scope": params.get("scope", scope)}
        query = {name: value for name, value in query.items() if value}
        response = self._send("GET", realm, ref, "token request", {}, params=query, auth=auth)
        self._raise_for(response, ref, "token request")
        with response:
            body = self._json(self._read(response, ref, "token request", MAX_TOKEN_RESPONSE), ref, "token")
        token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise self._error(RegistryError, ref, f"the token service at {realm} answered no token")
        return token

    def _check_realm(self, realm: str, ref: ImageReference) -> None:
        """Credentials go only to a token service on the registry's own site, over TLS when it has TLS."""
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self._error(
                RegistryError,
                ref,
                f"the registry's token realm {realm!r} is not an HTTP(S) URL; check that the URL points at "
                "a registry",
            )
        registry_host = urlsplit(f"//{ref.api_host}").hostname or ""
        if not same_site(registry_host, parts.hostname):
            raise self._error(
                RegistryAuthError,
                ref,
                f"the registry sends its token requests to {parts.hostname}, another site than "
                f"{registry_host}; the credentials are not sent there (use the registry's own token service)",
                "credentials",
            )
        if parts.scheme == "http" and not self.insecure:
            raise self._error(
                RegistryAuthError,
                ref,
                f"the registry's token realm {realm} is plain HTTP; the credentials are only sent over HTTPS",
                "credentials",
            )

    def _next_page(self, base: str, current: str, nxt: str, ref: ImageReference) -> str:
        url = urljoin(current, nxt)
        here, there = urlsplit(base), urlsplit(url)
        if (here.scheme, here.netloc) != (there.scheme, there.netloc):
            raise self._error(
                RegistryError,
                ref,
                f"the tag list's next page is on another host ({there.netloc}); not followed",
            )
        return url

    def _send(
        self, method: str, url: str, ref: ImageReference, what: str, headers: dict[str, str], **kwargs: Any
    ) -> requests.Response:
        try:
            return self.session.request(
                method, url, headers=headers, timeout=self.timeout, stream=True, **kwargs
            )
        except requests.Timeout:
            message = f"{what} timed out after {self.timeout:g}s; raise spec.timeout or check the registry"
            raise self._error(RegistryUnreachableError, ref, message) from None
        except requests.exceptions.SSLError:
            message = (
                f"TLS verification of {ref.api_host} failed; set certSecretRef to its CA (or insecure: true "
                "for a plain-HTTP registry)"
            )
            raise self._error(RegistryUnreachableError, ref, message, "tls") from None
        except requests.RequestException as err:
            message = (
                f"cannot reach {ref.api_host} ({type(err).__name__}); check the host, or insecure: true for "
                "a plain-HTTP registry"
            )
            raise self._error(RegistryUnreachableError, ref, message) from None

    def _read(
        self,
        response: requests.Response,
        ref: ImageReference,
        what: str,
        limit: int,
        *,
        declared: bool = False,
    ) -> bytes:
        """The body, streamed; more than ``limit`` bytes (or the declared size) stops the download."""
        chunks, size = [], 0
        try:
            for chunk in response.iter_content(_CHUNK):
                size += len(chunk)
                if size > limit:
                    why = (
                        f"more than the {limit} bytes its descriptor declares"
                        if declared
                        else (f"more than the limit of {limit} bytes")
                    )
                    raise self._error(RegistryTooLargeError, ref, f"the {what} is {why}; download stopped")
                chunks.append(chunk)
        except requests.RequestException as err:
            message = f"the {what} download broke off ({type(err).__name__}); retry later"
            raise self._error(RegistryUnreachableError, ref, message) from None
        finally:
            response.close()
        return b"".join(chunks)

    def _json(self, body: bytes, ref: ImageReference, what: str) -> Any:
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise self._error(
                RegistryError, ref, f"the registry answered a {what} that is not JSON"
            ) from None

    def _raise_for(
        self, response: requests.Response, ref: ImageReference, what: str, blamed: str = "reference"
    ) -> None:
        status = response.status_code
        if status < 400:
            return
        try:
            codes = _error_codes(self._read(response, ref, what, 64 << 10))
        except RegistryError:
            codes = ""
        detail = f" ({codes})" if codes else ""
        if status in (401, 403):
            fix = "check the credentials in secretRef" if self.credentials.basic_auth else "set secretRef"
            raise self._error(
                RegistryAuthError,
                ref,
                f"the registry refused the {what} with {status}{detail}; {fix}",
                "credentials",
            )
        if status == 404:
            message = f"{what} not found (404){detail}; check {getattr(self.blame, blamed)}"
            raise self._error(RegistryNotFoundError, ref, message, blamed)
        if status == 429:
            raise self._error(
                RegistryUnreachableError,
                ref,
                "rate-limited by the registry (429); scan less often (spec.interval)",
            )
        kind = RegistryUnreachableError if status >= 500 else RegistryError
        raise self._error(kind, ref, f"the registry answered {status} to the {what}{detail}; retry later")

    def _error(
        self, kind: type[RegistryError], ref: ImageReference, message: str, blamed: str = "reference"
    ) -> RegistryError:
        return kind(
            self.credentials.scrub(f"{ref.name}: {message}"), obj=self.obj, field=getattr(self.blame, blamed)
        )


def same_site(registry: str, other: str) -> bool:
    """``other`` is ``registry`` itself or a host under the registry's parent domain (two labels or more).

    ``auth.docker.io`` serves ``registry-1.docker.io``, ``gitlab.com`` serves
    ``registry.gitlab.com``; an IP address is only ever itself.
    """
    registry, other = (h.lower().strip("[]").rstrip(".") for h in (registry, other))
    if registry == other:
        return True
    for host in (registry, other):
        try:
            ip_address(host)
            return False
        except ValueError:
            pass
    parent = registry.split(".", 1)[1] if "." in registry else ""
    return parent.count(".") >= 1 and (other == parent or other.endswith(f".{parent}"))


def _error_codes(body: bytes) -> str:
    try:
        errors = json.loads(body).get("errors") or []
        return ", ".join(str(e.get("code")) for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError, RecursionError):
        return ""
