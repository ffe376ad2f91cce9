"""HelmRepository and chart sources: index.yaml over HTTP(S), OCI chart repositories, charts in Git.

Version selection follows Flux's HelmChart rules: an exact version string wins, otherwise
the Masterminds constraint (``*`` when empty) picks the highest valid version, prereleases
only when the constraint names one, and equal versions are broken by ``created``. A
downloaded package is checked against the index's digest before it is stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import yaml

from airflow_flux_provider.credentials import ANONYMOUS, Credentials, ca_bundle
from airflow_flux_provider.oci.client import RegistryBlame
from airflow_flux_provider.oci.reference import ImageReference
from airflow_flux_provider.semver import Constraint, SemverError, Version
from airflow_flux_provider.sources.artifacts import Artifact, ArtifactStore
from airflow_flux_provider.sources.errors import ArtifactTooLargeError, RevisionNotFoundError, SourceError
from airflow_flux_provider.sources.fetched import Fetched
from airflow_flux_provider.sources.oci import OCIRef, OCISource, oci_repository, registry

HELM_CHART_CONTENT = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
#: Largest index.yaml read when resolving a chart version (Helm's own cap is of this order).
MAX_INDEX_SIZE = 100 << 20


class HelmAuthError(SourceError):
    """The chart repository refused the credentials."""


class HelmUnreachableError(SourceError):
    """The chart repository could not be reached."""


@dataclass(frozen=True)
class ChartVersion:
    """One resolved chart: its version and where its package is (URL or OCI reference)."""

    name: str
    version: str
    url: str
    digest: str | None = None  # sha256 hex from the index, when it gives one


def select_version(candidates: list[tuple[str, str]], name: str, version: str, *, obj: str) -> str:
    """Flux's choice among ``(version, created)`` pairs; raises when none qualifies."""
    if version and any(v == version for v, _ in candidates):
        return version
    expr = version if version not in ("", "*") else "*"
    try:
        constraint = Constraint.parse(expr)
    except SemverError as err:
        raise SourceError(err.message, obj=obj, field="spec.version") from None
    best: tuple[tuple[Any, ...], str, str] | None = None
    for text, created in candidates:
        try:
            parsed = Version.parse_tag(text)
        except SemverError:
            continue
        if constraint.check(parsed):
            key = (parsed.sort_key, created, text)
            if best is None or key[:2] > best[:2]:
                best = key
    if best is None:
        raise RevisionNotFoundError(
            f"no '{name}' chart with version matching '{version or '*'}' found; "
            "check spec.chart and spec.version against the repository",
            obj=obj,
            field="spec.version",
        )
    return best[2]


class HelmRepositorySource:
    """A HelmRepository (``type: default`` over HTTP(S), or an ``oci://`` registry path)."""

    def __init__(
        self,
        url: str,
        *,
        obj: str,
        credentials: Credentials = ANONYMOUS,
        pass_credentials: bool = False,
        insecure: bool = False,
        timeout: float = 60.0,
    ) -> None:
        if not url.startswith(("http://", "https://", "oci://")):
            raise SourceError(
                f"url {url!r} must be an http(s) chart repository or an oci:// registry path",
                obj=obj,
                field="spec.url",
            )
        self.url = url.rstrip("/")
        if self.is_oci:
            oci_repository(self.url, obj)  # a hostile registry path fails here, before any request
        self.obj = obj
        self.credentials = credentials
        self.pass_credentials = pass_credentials
        self.insecure = insecure or credentials.insecure
        self.timeout = timeout

    @classmethod
    def from_spec(cls, repo: Any, credentials: Credentials = ANONYMOUS) -> HelmRepositorySource:
        """Build from a typed :class:`airflow_flux_provider.specs.HelmRepository`."""
        spec = repo.spec
        return cls(
            spec.url,
            obj=f"HelmRepository/{repo.metadata.namespace or 'default'}/{repo.metadata.name}",
            credentials=credentials,
            pass_credentials=spec.pass_credentials,
            insecure=spec.insecure,
            timeout=spec.timeout.total_seconds(),
        )

    @property
    def is_oci(self) -> bool:
        return self.url.startswith("oci://")

    # -- HTTP -------------------------------------------------------------------------------

    def _download(self, url: str, what: str, limit: int, *, obj: str) -> bytes:
        same_host = urlsplit(url).netloc == urlsplit(self.url).netloc
        auth = self.credentials.basic_auth if (same_host or self.pass_credentials) else None
        with contextlib.ExitStack() as stack:
            kwargs: dict[str, Any] = {"auth": auth, "timeout": self.timeout, **self._tls(stack)}
            try:
                with requests.get(url, stream=True, **kwargs) as response:
                    self._check(response, url, what, obj=obj)
                    chunks, size = [], 0
                    for chunk in response.iter_content(1 << 16):
                        size += len(chunk)
                        if size > limit:
                            raise ArtifactTooLargeError(
                                f"the {what} at {url} is larger than the limit of {limit} bytes", obj=obj
                            )
                        chunks.append(chunk)
                    return b"".join(chunks)
            except requests.exceptions.SSLError:
                raise SourceError(
                    f"TLS with {url} failed; set certSecretRef to the repository's CA (ca.crt) "
                    "and, if it asks for one, a client certificate (tls.crt, tls.key)",
                    obj=obj,
                    field="spec.certSecretRef",
                ) from None
            except requests.RequestException as err:
                raise HelmUnreachableError(
                    f"cannot reach {url} ({type(err).__name__}); check spec.url and the network",
                    obj=obj,
                    field="spec.url",
                ) from None

    def _tls(self, stack: contextlib.ExitStack) -> dict[str, Any]:
        """``verify``/``cert`` for requests from ``certSecretRef`` (ca.crt, tls.crt + tls.key)."""

        def pem(text: str) -> str:
            handle = stack.enter_context(tempfile.NamedTemporaryFile("w", suffix=".pem"))  # noqa: SIM115
            handle.write(text)
            handle.flush()
            return handle.name

        creds = self.credentials
        tls: dict[str, Any] = {"verify": ca_bundle(creds.ca_cert) if creds.ca_cert else True}
        if creds.client_cert and creds.client_key:
            tls["cert"] = (pem(creds.client_cert), pem(creds.client_key))
        return tls

    def _check(self, response: requests.Response, url: str, what: str, *, obj: str) -> None:
        status = response.status_code
        if status in (401, 403):
            fix = "check the username/password" if self.credentials.basic_auth else "set spec.secretRef"
            raise HelmAuthError(
                f"{url} refused the {what} download with {status}; {fix} of the connection",
                obj=obj,
                field="spec.secretRef",
            )
        if status == 404:
            raise SourceError(f"no {what} at {url} (404); check spec.url", obj=obj, field="spec.url")
        if status >= 400:
            raise SourceError(
                f"{url} answered {status} to the {what} download; check spec.url and the repository server",
                obj=obj,
                field="spec.url",
            )

    # -- index ------------------------------------------------------------------------------

    def _index_url(self) -> str:
        return f"{self.url}/index.yaml"

    def index_bytes(self, limit: int) -> bytes:
        if self.is_oci:
            raise SourceError(
                "an OCI HelmRepository has no index.yaml; fetch charts from it directly",
                obj=self.obj,
                field="spec.type",
            )
        return self._download(self._index_url(), "index.yaml", limit, obj=self.obj)

    def parse_index(self, data: bytes) -> dict[str, Any]:
        """The index as a mapping, refusing what Helm would refuse (no YAML, no apiVersion)."""
        try:
            index = yaml.safe_load(data)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise SourceError(
                f"index.yaml at {self._index_url()} is not valid YAML{where}; the repository is corrupt, "
                "regenerate it with `helm repo index`",
                obj=self.obj,
                field="spec.url",
            ) from None
        if not isinstance(index, dict) or not index.get("apiVersion"):
            raise SourceError(
                f"index.yaml at {self._index_url()} has no apiVersion; the repository is corrupt, "
                "regenerate it with `helm repo index`",
                obj=self.obj,
                field="spec.url",
            )
        entries = index.get("entries") or {}
        if not isinstance(entries, dict) or not all(isinstance(v, list) for v in entries.values()):
            raise SourceError(
                f"index.yaml at {self._index_url()} has malformed entries; "
                "regenerate it with `helm repo index`",
                obj=self.obj,
                field="spec.url",
            )
        index["entries"] = entries
        return index

    def revision(self) -> str:
        """The revision the index has now (sha256 of its bytes): what a "new revision" sensor polls."""
        data = self.index_bytes(MAX_INDEX_SIZE)
        self.parse_index(data)
        return f"sha256:{hashlib.sha256(data).hexdigest()}"

    def fetch_index(self, store: ArtifactStore) -> Fetched:
        """Store ``index.yaml``; its revision is the sha256 of the downloaded bytes, as in Flux."""
        data = self.index_bytes(store.max_size)
        self.parse_index(data)
        revision = f"sha256:{hashlib.sha256(data).hexdigest()}"
        last = store.latest(self.obj)
        if last is not None and last.revision == revision:
            return Fetched(last, changed=False)
        return Fetched(
            store.put_bytes(data, source=self.obj, revision=revision, suffix=".yaml"), changed=True
        )

    # -- charts -----------------------------------------------------------------------------

    def resolve(self, chart: str, version: str = "*", *, obj: str | None = None) -> ChartVersion:
        """Pick the chart version (index for HTTP repositories, tag list for OCI ones)."""
        obj = obj or self.obj
        if self.is_oci:
            return self._resolve_oci(chart, version, obj)
        index = self.parse_index(self.index_bytes(MAX_INDEX_SIZE))
        entries = [e for e in index["entries"].get(chart) or [] if isinstance(e, dict)]
        pairs = [(str(e.get("version", "")), str(e.get("created", ""))) for e in entries]
        chosen = select_version(pairs, chart, version, obj=obj)
        entry = next(e for e in entries if str(e.get("version", "")) == chosen)
        urls = entry.get("urls") or []
        if not urls:
            raise SourceError(f"chart {chart} {chosen} lists no download URL in the index", obj=obj)
        url = str(urls[0])
        url = url if urlsplit(url).scheme else urljoin(f"{self.url}/", url)
        return ChartVersion(chart, chosen, url, entry.get("digest"))

    def _registry_name(self, chart: str, obj: str) -> ImageReference:
        return oci_repository(f"{self.url}/{chart}", obj, field="spec.chart")

    def _resolve_oci(self, chart: str, version: str, obj: str) -> ChartVersion:
        url = f"{self.url}/{chart}"
        try:
            exact = Version.parse_tag(version) if version else None
        except SemverError:
            exact = None
        if exact is not None:
            return ChartVersion(chart, version, url)
        name = self._registry_name(chart, obj)
        blame = RegistryBlame(repository="spec.chart", reference="spec.version")
        with registry(
            self.credentials, insecure=self.insecure, timeout=self.timeout, obj=obj, blame=blame
        ) as client:
            tags = client.list_tags(name)
        chosen = select_version([(t.replace("_", "+"), "") for t in tags], chart, version, obj=obj)
        return ChartVersion(chart, chosen, url)

    def fetch_chart(self, store: ArtifactStore, chart: str, version: str = "*", *, obj: str) -> Fetched:
        """Store the chart package (``.tgz``) chosen by ``version``; revision = the chart version."""
        resolved = self.resolve(chart, version, obj=obj)
        last = store.latest(obj)
        if (
            last is not None
            and last.revision == resolved.version
            and (resolved.digest is None or last.digest == f"sha256:{resolved.digest}")
        ):
            return Fetched(last, changed=False)
        if self.is_oci:
            oci = OCISource(
                resolved.url,
                obj=obj,
                ref=OCIRef(tag=resolved.version.replace("+", "_")),
                media_type=HELM_CHART_CONTENT,
                insecure=self.insecure,
                credentials=self.credentials,
                timeout=self.timeout,
            )
            _, data = oci.pull(store.max_size)
        else:
            data = self._download(resolved.url, f"chart {chart} {resolved.version}", store.max_size, obj=obj)
            if resolved.digest and hashlib.sha256(data).hexdigest() != resolved.digest:
                raise SourceError(
                    f"chart {chart} {resolved.version} from {resolved.url} does not match the digest in "
                    "index.yaml; the repository is inconsistent, re-index it",
                    obj=obj,
                )
        artifact = store.put_bytes(data, source=obj, revision=resolved.version, suffix=".tgz")
        return Fetched(artifact, changed=True)


def chart_from_artifact(
    store: ArtifactStore,
    source: Artifact,
    path: str,
    *,
    obj: str,
    reconcile_strategy: str = "ChartVersion",
) -> Fetched:
    """Package the chart at ``path`` inside a Git/Bucket artifact (HelmChart with such a sourceRef).

    The revision is the ``Chart.yaml`` version, or ``<version>+<first 12 of the source
    revision's hash>`` with ``reconcileStrategy: Revision``, as in Flux.
    """
    norm = posixpath.normpath(path.strip("/") or ".")
    if norm == ".." or norm.startswith("../"):
        raise SourceError(f"chart path {path!r} leaves the source artifact", obj=obj, field="spec.chart")
    with tempfile.TemporaryDirectory(prefix="flux-chart-") as tmp:
        tree = store.extract(source, Path(tmp) / "source")
        chart_dir = tree / norm
        meta_file = chart_dir / "Chart.yaml"
        if not meta_file.is_file():
            raise SourceError(
                f"no Chart.yaml at {path!r} in {source.source} ({source.revision}); check spec.chart",
                obj=obj,
                field="spec.chart",
            )
        try:
            meta = yaml.safe_load(meta_file.read_text())
            name, version = str(meta["name"]), str(meta["version"])
        except (yaml.YAMLError, KeyError, TypeError):
            raise SourceError(
                f"{path}/Chart.yaml needs a name and a version", obj=obj, field="spec.chart"
            ) from None
        if reconcile_strategy == "Revision":
            version = f"{version}+{source.revision.rsplit(':', 1)[-1].rsplit('/', 1)[-1][:12]}"
        last = store.latest(obj)
        if last is not None and last.revision == version:
            return Fetched(last, changed=False)
        package = Path(tmp) / "package"
        shutil.copytree(chart_dir, package / name, symlinks=True)
        return Fetched(store.put_directory(package, source=obj, revision=version), changed=True)


def fetch_helm_chart(
    store: ArtifactStore,
    chart: Any,
    *,
    repository: HelmRepositorySource | None = None,
    source_artifact: Artifact | None = None,
) -> Fetched:
    """The package a typed HelmChart describes: chosen from its HelmRepository (``repository``),
    or packaged from the Git/Bucket artifact of its source (``source_artifact``)."""
    spec = chart.spec
    if spec.source_ref.kind == "HelmRepository":
        if repository is None:
            raise SourceError(
                f"the HelmRepository {spec.source_ref.name!r} is needed to choose the chart",
                obj=chart.ref,
                field="spec.sourceRef",
            )
        return repository.fetch_chart(store, spec.chart, spec.version, obj=chart.ref)
    if source_artifact is None:
        raise SourceError(
            f"the {spec.source_ref.kind} {spec.source_ref.name!r} has no artifact to take the chart from",
            obj=chart.ref,
            field="spec.sourceRef",
        )
    return chart_from_artifact(
        store, source_artifact, spec.chart, obj=chart.ref, reconcile_strategy=spec.reconcile_strategy
    )
