"""Content-addressed artifact storage shared by every task that fetches or consumes a source.

Flux's source-controller keeps one tarball per source revision and hands consumers its URL
and digest. Here the store lives under a base URL (a local folder by default, or any fsspec
URL such as ``s3://bucket/prefix`` so tasks on different workers share it); XCom carries
only the :class:`Artifact` metadata, from which a consumer finds the store again
(:attr:`Artifact.store_url`). Packing is deterministic (sorted entries, zeroed
mtimes and owners, normalised modes) so the same content always gets the same digest.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import stat
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Concatenate, ParamSpec, TypeVar

import fsspec

from airflow_flux_provider.credentials import Credentials, ca_bundle
from airflow_flux_provider.sources.archive import unpack
from airflow_flux_provider.sources.errors import (
    ArtifactStoreError,
    ArtifactTooLargeError,
    SourceError,
)

#: ``ignore(relative_posix_path, is_dir) -> True`` drops the entry from the archive.
IgnoreFunc = Callable[[str, bool], bool]

DEFAULT_MAX_SIZE = 512 * 1024 * 1024  # bytes of a stored archive
DEFAULT_MAX_EXTRACTED = 2 * 1024 * 1024 * 1024  # bytes unpacked from one archive
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_SOURCE = re.compile(r"[A-Za-z]+/[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


@dataclass(frozen=True)
class Artifact:
    """One stored revision of a source: what Flux puts in ``.status.artifact``."""

    url: str
    path: str | None
    revision: str
    digest: str
    size: int
    source: str
    last_update_time: str

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def store_url(self) -> str:
        """Base URL of the store holding this artifact (blobs live at ``<base>/sha256/...``)."""
        base, sep, _ = self.url.rpartition("/sha256/")
        if not sep:
            raise SourceError(f"artifact url {self.url!r} is not inside an artifact store", field="url")
        return base

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> Artifact:
        try:
            return cls(**{name: data[name] for name in cls.__dataclass_fields__})
        except (KeyError, TypeError) as err:
            raise SourceError(
                f"not an artifact record ({err}); pass the XCom a source operator returned",
                field="artifact",
            ) from None


def _default_base() -> str:
    home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
    return str(Path(home) / "flux" / "artifacts")


def _check_source(source: str) -> str:
    if not _SOURCE.fullmatch(source):
        raise SourceError(
            f"source {source!r} must be 'Kind/namespace/name' (e.g. GitRepository/flux-system/podinfo)",
            field="source",
        )
    return source


def _check_digest(digest: str) -> str:
    if not _DIGEST.fullmatch(digest):
        raise SourceError(f"digest {digest!r} must be 'sha256:' and 64 lowercase hex digits", field="digest")
    return digest


def s3_options(endpoint: str | None, credentials: Credentials, region: str | None = None) -> dict[str, Any]:
    """s3fs storage options for a ``flux_bucket`` connection (host = endpoint, login/password = keys).

    Without keys s3fs falls back to the AWS credential chain (instance role, IRSA, environment),
    which is what a store on AWS itself should use.
    """
    client: dict[str, Any] = {"region_name": region or credentials.extra.get("region") or "us-east-1"}
    if endpoint:
        scheme = "http" if credentials.insecure else "https"
        client["endpoint_url"] = endpoint if "://" in endpoint else f"{scheme}://{endpoint}"
    if credentials.ca_cert:
        client["verify"] = ca_bundle(credentials.ca_cert)
    options: dict[str, Any] = {
        "client_kwargs": client,
        # Path-style requests work with every S3 implementation, virtual hosts need DNS for each bucket.
        "config_kwargs": {"s3": {"addressing_style": "path"}, "retries": {"max_attempts": 3}},
    }
    if credentials.username or credentials.password:
        options.update(key=credentials.username, secret=credentials.password, token=credentials.token)
    return options


_P = ParamSpec("_P")
_R = TypeVar("_R")


_Method = Callable[Concatenate["ArtifactStore", _P], _R]


def _storage(action: str) -> Callable[[_Method[_P, _R]], _Method[_P, _R]]:
    """Report a failure of the storage backend as an error naming the store and the fix."""

    def wrap(method: _Method[_P, _R]) -> _Method[_P, _R]:
        @functools.wraps(method)
        def run(store: ArtifactStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return method(store, *args, **kwargs)
            except SourceError:
                raise
            except Exception as err:
                raise store._failure(action, err) from None

        return run

    return wrap


class ArtifactStore:
    """Blobs at ``<base>/sha256/<hex><suffix>``; per-source history in ``<base>/sources/``.

    ``storage_options`` go to the fsspec backend (for ``s3://``: :func:`s3_options`).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        storage_options: Mapping[str, Any] | None = None,
        max_size: int = DEFAULT_MAX_SIZE,
        max_extracted: int = DEFAULT_MAX_EXTRACTED,
    ) -> None:
        self.base_url = (base_url or _default_base()).rstrip("/")
        self.max_size = max_size
        self.max_extracted = max_extracted
        self._open(dict(storage_options or {}))

    @_storage("open the store")
    def _open(self, storage_options: dict[str, Any]) -> None:
        try:
            self._fs, root = fsspec.core.url_to_fs(self.base_url, **storage_options)
        except (ImportError, ValueError) as err:  # unknown scheme, backend not installed
            raise ArtifactStoreError(
                f"cannot open the store: {err}; use a folder, s3:// (s3fs ships with the provider) "
                "or install the fsspec backend for this scheme",
                obj=f"artifact store {self.base_url}",
                field="artifacts_url",
            ) from None
        self._root = root.rstrip("/")
        self._local = "file" in (
            self._fs.protocol if isinstance(self._fs.protocol, tuple) else (self._fs.protocol,)
        )
        self._fs.makedirs(self._root, exist_ok=True)

    def _failure(self, action: str, err: Exception) -> ArtifactStoreError:
        """``err`` from the backend as an error a user can act on (backend messages hold no keys)."""
        if getattr(self, "_local", False):
            fix = "check that the worker can write to this folder ([flux] artifacts_url / artifacts_path)"
        elif isinstance(err, PermissionError):
            fix = "check the keys in [flux] artifacts_conn_id and the policy on the bucket"
        elif isinstance(err, FileNotFoundError):
            fix = "check the bucket name and prefix in [flux] artifacts_url"
        else:
            fix = "check the endpoint of [flux] artifacts_conn_id and the network"
        return ArtifactStoreError(
            f"cannot {action}: {type(err).__name__}: {err}; {fix}",
            obj=f"artifact store {self.base_url}",
            field="artifacts_url",
        )

    # -- writing ------------------------------------------------------------------------------

    def put_directory(
        self, src_dir: str | Path, *, source: str, revision: str, ignore: IgnoreFunc | None = None
    ) -> Artifact:
        """Pack ``src_dir`` (regular files and directories only, as Flux does) and store it."""
        src = Path(src_dir)
        if not src.is_dir():
            raise SourceError(f"{src} is not a directory to archive", obj=_check_source(source))
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as buf:
            _pack(src, buf, ignore, limit=self.max_size, source=source)
            buf.seek(0)
            return self._store(buf, source=source, revision=revision, suffix=".tar.gz")

    def put_bytes(
        self, data: bytes, *, source: str, revision: str, suffix: str, history: bool = True
    ) -> Artifact:
        """Store ``data`` as is (an index.yaml, a chart .tgz, an OCI layer, a render).

        ``history=False`` leaves the source's history alone: for what a task hands the next one
        (a render, a tag list), which is no revision of the source.
        """
        if len(data) > self.max_size:
            raise ArtifactTooLargeError(
                f"{len(data)} bytes exceed the store limit of {self.max_size}; raise max_size",
                obj=_check_source(source),
            )
        return self._store(io.BytesIO(data), source=source, revision=revision, suffix=suffix, history=history)

    @_storage("store an artifact")
    def _store(self, data: Any, *, source: str, revision: str, suffix: str, history: bool = True) -> Artifact:
        _check_source(source)
        if not re.fullmatch(r"(\.[A-Za-z0-9_-]+)*", suffix):
            raise SourceError(f"suffix {suffix!r} must look like '.tar.gz'", obj=source, field="suffix")
        sha = hashlib.sha256()
        for chunk in iter(lambda: data.read(1 << 20), b""):
            sha.update(chunk)
        size = data.tell()
        hexdigest = sha.hexdigest()
        key = f"{self._root}/sha256/{hexdigest}{suffix}"
        if not self._fs.exists(key):
            data.seek(0)
            tmp = f"{self._root}/tmp/{uuid.uuid4().hex}"
            self._fs.makedirs(f"{self._root}/tmp", exist_ok=True)
            self._fs.makedirs(f"{self._root}/sha256", exist_ok=True)
            try:
                with self._fs.open(tmp, "wb") as out:
                    shutil.copyfileobj(data, out, 1 << 20)
                self._fs.mv(tmp, key)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    self._fs.rm(tmp)
        artifact = Artifact(
            url=self._fs.unstrip_protocol(key),
            path=key if self._local else None,
            revision=revision,
            digest=f"sha256:{hexdigest}",
            size=size,
            source=source,
            last_update_time=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        if history:
            self._record(artifact)
        return artifact

    # -- history ------------------------------------------------------------------------------

    def _history_key(self, source: str) -> str:
        return f"{self._root}/sources/{_check_source(source)}.json"

    @_storage("read the history")
    def history(self, source: str) -> list[Artifact]:
        """Artifacts stored for ``source``, oldest first (one entry per digest)."""
        key = self._history_key(source)
        self._fs.invalidate_cache(key.rsplit("/", 1)[0])  # another worker may have written it
        if not self._fs.exists(key):
            return []
        return [Artifact.from_xcom(d) for d in json.loads(self._fs.cat_file(key))]

    def _write_history(self, source: str, items: list[Artifact]) -> None:
        key = self._history_key(source)
        self._fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
        tmp = f"{key}.{uuid.uuid4().hex}.tmp"
        self._fs.pipe_file(tmp, json.dumps([a.to_xcom() for a in items], indent=1).encode())
        self._fs.mv(tmp, key)

    @contextlib.contextmanager
    def _locked(self, source: str) -> Iterator[None]:
        """Serialise history updates of one source between processes sharing a local store."""
        if not self._local:
            yield  # object stores: last writer wins, as with Flux's status updates
            return
        key = self._history_key(source)
        self._fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
        with open(f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _record(self, artifact: Artifact) -> None:
        with self._locked(artifact.source):
            items = [a for a in self.history(artifact.source) if a.digest != artifact.digest]
            self._write_history(artifact.source, [*items, artifact])

    def latest(self, source: str) -> Artifact | None:
        """The newest artifact stored for ``source`` (what ``.status.artifact`` would show)."""
        items = self.history(source)
        return items[-1] if items else None

    @_storage("collect old artifacts")
    def gc(self, source: str, *, keep: int = 2) -> list[Artifact]:
        """Forget all but the ``keep`` newest artifacts of ``source``; delete blobs no source uses."""
        if keep < 1:
            raise SourceError(f"keep={keep} would delete the current artifact; use 1 or more", field="keep")
        with self._locked(source):
            items = self.history(source)
            dropped, kept = items[:-keep], items[-keep:]
            if not dropped:
                return []
            self._write_history(source, kept)
        in_use = {a.digest for other in self._all_sources() for a in self.history(other)}
        for artifact in dropped:
            if artifact.digest not in in_use:
                with contextlib.suppress(FileNotFoundError):
                    self._fs.rm(self._blob_key(artifact.digest))
        return dropped

    def _all_sources(self) -> Iterator[str]:
        base = f"{self._root}/sources/"
        for key in self._fs.glob(f"{base}*/*/*.json"):
            yield str(key)[len(base) : -len(".json")]

    # -- reading ------------------------------------------------------------------------------

    def _blob_key(self, digest: str) -> str:
        hexdigest = _check_digest(digest).removeprefix("sha256:")
        self._fs.invalidate_cache(f"{self._root}/sha256")
        found = self._fs.glob(f"{self._root}/sha256/{hexdigest}*")
        if not found:
            shared = " (a local folder is not shared by workers: see artifacts_url)" if self._local else ""
            raise SourceError(
                f"artifact {digest} is not in the store {self.base_url}{shared}; fetch the source again",
                field="digest",
            )
        return str(found[0])

    @_storage("read an artifact")
    def get(self, digest: str) -> bytes:
        """The stored bytes, verified against ``digest``."""
        data: bytes = self._fs.cat_file(self._blob_key(digest))
        if f"sha256:{hashlib.sha256(data).hexdigest()}" != digest:
            raise SourceError(
                f"stored artifact {digest} is corrupt (content digest differs); fetch the source again",
                field="digest",
            )
        return data

    def get_url(self, url: str) -> bytes:
        """The blob at ``url``, an artifact URL of this store, verified against the digest it names."""
        base, sep, name = url.rpartition("/sha256/")
        if not sep or base != self.base_url:
            raise SourceError(f"{url!r} is not an artifact of the store {self.base_url}", field="url")
        return self.get(f"sha256:{name.split('.', 1)[0]}")

    def extract(self, artifact: Artifact, dest_dir: str | Path) -> Path:
        """Unpack a tarball artifact into ``dest_dir`` (must be absent or empty), all or nothing."""
        dest = Path(dest_dir)
        if dest.exists() and any(dest.iterdir()):
            raise SourceError(f"{dest} is not empty; extract into a new folder", obj=artifact.source)
        data = self.get(artifact.digest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest.parent))
        try:
            unpack(data, staging, limit=self.max_extracted, obj=artifact.source)
            try:
                if dest.exists():
                    dest.rmdir()
                staging.rename(dest)
            except OSError:
                if not (dest.is_dir() and any(dest.iterdir())):
                    raise
                raise SourceError(
                    f"{dest} was filled by another process while this one extracted; use it as it is "
                    "or extract into a new folder",
                    obj=artifact.source,
                ) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return dest


def _walk(root: Path, rel: PurePosixPath = PurePosixPath()) -> Iterator[tuple[PurePosixPath, os.stat_result]]:
    """Entries below ``root`` in lexical order, directories before their content."""
    with os.scandir(root / rel) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        st = entry.stat(follow_symlinks=False)
        path = rel / entry.name
        if stat.S_ISDIR(st.st_mode):
            yield path, st
            yield from _walk(root, path)
        elif stat.S_ISREG(st.st_mode):
            yield path, st


def _pack(src: Path, out: Any, ignore: IgnoreFunc | None, *, limit: int, source: str) -> None:
    gz = gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0)
    with gz, tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, st in _walk(src):
            is_dir = stat.S_ISDIR(st.st_mode)
            if ignore is not None and ignore(rel.as_posix(), is_dir):
                continue
            info = tarfile.TarInfo(rel.as_posix())
            info.mtime = 0
            if is_dir:
                info.type, info.mode = tarfile.DIRTYPE, 0o750
                tar.addfile(info)
                continue
            info.size = st.st_size
            info.mode = 0o700 if st.st_mode & 0o111 else 0o600
            with open(src / rel, "rb") as fh:
                tar.addfile(info, fh)
            if out.tell() > limit:
                raise ArtifactTooLargeError(
                    f"archive exceeds the store limit of {limit} bytes; add ignore rules or raise max_size",
                    obj=source,
                )
