"""Bucket sources: an S3-compatible bucket (providers ``generic`` and ``aws``) as an artifact.

Like Flux, the revision is computed from the listing alone (``sha256`` over the sorted
``"<key> <etag>\\n"`` lines of the kept keys), so an unchanged bucket is detected with one
LIST and nothing is downloaded. Only the root ``.sourceignore`` and ``spec.ignore`` filter
keys; Flux's default exclusions do not apply to buckets.
"""

from __future__ import annotations

import functools
import hashlib
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

from airflow_flux_provider.credentials import ANONYMOUS, Credentials, ca_bundle
from airflow_flux_provider.sources.archive import Folder, Limits, entry_path
from airflow_flux_provider.sources.artifacts import ArtifactStore
from airflow_flux_provider.sources.errors import ArtifactTooLargeError, SourceError
from airflow_flux_provider.sources.fetched import Fetched
from airflow_flux_provider.sources.ignore import SOURCEIGNORE, IgnoreRules

_DOWNLOAD_WORKERS = 8
_AUTH_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "401", "Forbidden"}


class BucketAuthError(SourceError):
    """The S3 endpoint refused the credentials."""


class BucketUnreachableError(SourceError):
    """The S3 endpoint could not be reached."""


def bucket_revision(index: dict[str, str]) -> str:
    """Flux's Bucket revision: ``sha256:`` of the sorted ``"<key> <etag>\\n"`` lines."""
    sha = hashlib.sha256()
    for key in sorted(index):
        sha.update(f"{key} {index[key]}\n".encode())
    return f"sha256:{sha.hexdigest()}"


def _local_paths(keys: Iterable[str], obj: str) -> dict[str, PurePosixPath]:
    """Each key's path below the download folder, refusing unsafe keys and keys that are also
    another key's folder."""
    targets = {key: entry_path(key, obj=obj, what="object key") for key in keys}
    files = {path.as_posix(): key for key, path in targets.items()}
    for rel, key in files.items():
        parts = rel.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in files:
                raise SourceError(
                    f"object key {files[folder]!r} is a file where key {key!r} needs a folder; "
                    "rename one of them or leave one out with spec.ignore",
                    obj=obj,
                    field="spec.ignore",
                )
    return targets


class BucketSource:
    """One Bucket spec; ``obj`` is ``Bucket/namespace/name``. Credentials: login = access key
    id, password = secret key (anonymous when neither is set, IAM chain for ``aws``)."""

    def __init__(
        self,
        bucket_name: str,
        endpoint: str,
        *,
        obj: str,
        provider: str = "generic",
        region: str | None = None,
        prefix: str | None = None,
        insecure: bool = False,
        ignore: str | None = None,
        credentials: Credentials = ANONYMOUS,
        timeout: float = 60.0,
    ) -> None:
        if provider not in ("generic", "aws"):
            raise SourceError(
                f"provider {provider!r} is not supported here; use generic (any S3 API) or aws",
                obj=obj,
                field="spec.provider",
            )
        if "://" in endpoint:
            raise SourceError(
                f"endpoint {endpoint!r} must be host[:port] without scheme; "
                "set insecure: true for plain HTTP",
                obj=obj,
                field="spec.endpoint",
            )
        self.bucket_name = bucket_name
        self.endpoint = endpoint
        self.obj = obj
        self.provider = provider
        self.region = region
        self.prefix = prefix or ""
        self.insecure = insecure or credentials.insecure
        self.ignore = ignore
        self.credentials = credentials
        self.timeout = timeout

    @classmethod
    def from_spec(cls, bucket: Any, credentials: Credentials = ANONYMOUS) -> BucketSource:
        """Build from a typed :class:`airflow_flux_provider.specs.Bucket`."""
        spec = bucket.spec
        return cls(
            spec.bucket_name,
            spec.endpoint,
            obj=f"Bucket/{bucket.metadata.namespace or 'default'}/{bucket.metadata.name}",
            provider=spec.provider,
            region=spec.region,
            prefix=spec.prefix,
            insecure=spec.insecure,
            ignore=spec.ignore,
            credentials=credentials,
            timeout=spec.timeout.total_seconds(),
        )

    # -- S3 ---------------------------------------------------------------------------------

    @functools.cached_property
    def _s3(self) -> Any:
        """One boto3 client per source (building one loads the service model, ~0.1 s)."""
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        creds = self.credentials
        access_key = creds.username or creds.extra.get("accesskey")
        secret_key = creds.password or creds.extra.get("secretkey")
        anonymous = self.provider == "generic" and not (access_key or secret_key)
        config = Config(
            s3={"addressing_style": "path"},
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            retries={"max_attempts": 2},
            signature_version=UNSIGNED if anonymous else None,
            max_pool_connections=_DOWNLOAD_WORKERS,
        )
        return boto3.session.Session().client(
            "s3",
            endpoint_url=f"{'http' if self.insecure else 'https'}://{self.endpoint}",
            region_name=self.region or "us-east-1",
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            aws_session_token=creds.token,
            verify=ca_bundle(creds.ca_cert) if creds.ca_cert else True,
            config=config,
        )

    def _translate(self, err: Exception) -> SourceError:
        from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError, SSLError

        if isinstance(err, ClientError):
            error = err.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = str(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            if code in ("NoSuchBucket", "404") and status == "404":
                return SourceError(
                    f"bucket '{self.bucket_name}' not found at {self.endpoint}; check spec.bucketName",
                    obj=self.obj,
                    field="spec.bucketName",
                )
            if code in _AUTH_CODES or status in ("401", "403"):
                creds = self.credentials
                fix = (
                    "check the access key and secret key of the connection named by spec.secretRef"
                    if creds.username or creds.password or creds.extra.get("accesskey")
                    else "the bucket is not public: set spec.secretRef to a connection with its keys"
                )
                return BucketAuthError(
                    f"{self.endpoint} refused the request ({code or status}); {fix}",
                    obj=self.obj,
                    field="spec.secretRef",
                )
            message = self.credentials.scrub(str(error.get("Message", code)))
            return SourceError(f"S3 request failed: {code} {message}", obj=self.obj, field="spec.endpoint")
        if isinstance(err, SSLError):
            return SourceError(
                f"TLS verification of {self.endpoint} failed; put its CA in the connection's ca_cert "
                "(certSecretRef), or use insecure: true for a plain-HTTP endpoint",
                obj=self.obj,
                field="spec.certSecretRef",
            )
        if isinstance(err, EndpointConnectionError | ReadTimeoutError):
            return BucketUnreachableError(
                f"cannot reach {self.endpoint} ({type(err).__name__}); check spec.endpoint, "
                "spec.insecure (http vs https) and the network",
                obj=self.obj,
                field="spec.endpoint",
            )
        return SourceError(
            f"S3 request to {self.endpoint} failed: {self.credentials.scrub(str(err))}",
            obj=self.obj,
            field="spec.endpoint",
        )

    def _call(self, fn: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except (BotoCoreError, ClientError) as err:
            raise self._translate(err) from None

    def bucket_names(self) -> list[str]:
        """The buckets these credentials may list at the endpoint (a connection check names none)."""
        answer = self._call(self._s3.list_buckets)
        return [str(bucket.get("Name")) for bucket in answer.get("Buckets") or []]

    def _listing(self, client: Any) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket_name, "Prefix": self.prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call(client.list_objects_v2, **kwargs)
            yield from page.get("Contents", [])
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    def _rules(self, client: Any) -> IgnoreRules:
        from botocore.exceptions import ClientError

        try:
            body = client.get_object(Bucket=self.bucket_name, Key=SOURCEIGNORE)["Body"].read()
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                raise self._translate(err) from None
            body = b""
        except Exception as err:  # botocore's connection errors share no useful base
            raise self._translate(err) from None
        return IgnoreRules.for_bucket(body.decode(errors="replace"), self.ignore)

    def listing(self) -> tuple[dict[str, str], int]:
        """The kept keys with their etags, and their total size (one LIST, no download)."""
        client = self._s3
        self._call(client.head_bucket, Bucket=self.bucket_name)
        rules = self._rules(client)
        index: dict[str, str] = {}
        total = 0
        for item in self._listing(client):
            key = item["Key"]
            if key.endswith("/") or key == SOURCEIGNORE or rules(key, False):
                continue
            index[key] = str(item.get("ETag", "")).strip('"')
            total += int(item.get("Size", 0))
        return index, total

    def revision(self) -> str:
        """The revision the bucket has now (what a sensor compares)."""
        return bucket_revision(self.listing()[0])

    def fetch(self, store: ArtifactStore) -> Fetched:
        """Store the bucket's content as an artifact unless its revision is already the latest."""
        index, total = self.listing()
        revision = bucket_revision(index)
        last = store.latest(self.obj)
        if last is not None and last.revision == revision:
            return Fetched(last, changed=False)
        if total > store.max_size:
            raise ArtifactTooLargeError(
                f"the {len(index)} objects hold {total} bytes, over the store limit of {store.max_size}; "
                "narrow spec.prefix or spec.ignore",
                obj=self.obj,
            )
        client = self._s3
        targets = _local_paths(index, self.obj)
        limits = Limits(max_bytes=store.max_size, max_entries=max(len(targets), 1))
        with (
            tempfile.TemporaryDirectory(prefix="flux-bucket-") as tmp,
            Folder(Path(tmp), self.obj, limits) as folder,
        ):

            def download(key: str) -> None:
                with folder.create(
                    targets[key]
                ) as out:  # the listing's sizes may lie: the folder counts what arrives
                    self._call(client.download_fileobj, Bucket=self.bucket_name, Key=key, Fileobj=out)

            with ThreadPoolExecutor(_DOWNLOAD_WORKERS) as pool:
                list(pool.map(download, sorted(index)))
            artifact = store.put_directory(folder.root, source=self.obj, revision=revision)
        return Fetched(artifact, changed=True)
