"""Airflow connection types for the credentials Flux objects reference through ``secretRef``.

Mapping rule: a Flux ``secretRef: {name: NAME}`` is read from the Airflow connection whose
id is ``NAME``; every operator also takes an explicit ``*_conn_id`` that wins over it.
:func:`flux_credentials` is the one place that rule lives. Kubernetes access uses the
cncf-kubernetes provider's ``kubernetes`` connection type (:mod:`.kubernetes`).

Each hook turns its connection into :class:`~airflow_flux_provider.credentials.Credentials`
so the capability packages never import Airflow.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_flux_provider.credentials import ANONYMOUS, Credentials, redact_url
from airflow_flux_provider.errors import FluxError

if TYPE_CHECKING:  # the specs (pydantic) load when a task runs, not when a DAG file is parsed
    from airflow_flux_provider.specs.refs import LocalObjectReference

#: What Airflow accepts as a connection id (its key rule).
_CONN_ID = re.compile(r"[\w.-]{1,250}")


class ConnectionSetupError(FluxError):
    """An Airflow connection a task needs does not exist or does not say enough to be used."""


class FluxCredentialsHook(BaseHook):
    """Reads one connection into :class:`Credentials`; subclasses only declare their type."""

    conn_name_attr = "conn_id"
    default_conn_name = ""
    conn_type = ""
    hook_name = ""
    #: Connection extras copied into Credentials fields of the same name.
    extra_fields: ClassVar[tuple[str, ...]] = ()
    #: The Secret key the connection's host stands for (Flux keeps it in the Secret).
    host_key: ClassVar[str | None] = None
    #: What the connection holds, for the error that asks a user to create it.
    expected: ClassVar[str] = "login/password, or a token in the password or the 'token' extra"
    #: Connection extras stored under another name than their Credentials field: Airflow hides a
    #: value in the UI and the API only when its name says it is secret (``private_key``).
    renamed_fields: ClassVar[dict[str, str]] = {"client_private_key": "client_key"}

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id or self.default_conn_name

    def get_conn(self) -> Credentials:
        return self.credentials_of(self.get_connection(self.conn_id))

    @classmethod
    def credentials_of(cls, conn: Any) -> Credentials:
        extra = {k: v for k, v in conn.extra_dejson.items() if v not in (None, "")}
        if cls.host_key and conn.host and cls.host_key not in extra:
            extra[cls.host_key] = conn.host
        known = {cls.renamed_fields.get(n, n): extra.pop(n) for n in cls.extra_fields if n in extra}
        insecure = str(known.pop("insecure", "false")).lower() in ("true", "1", "yes")
        return Credentials(
            username=conn.login or None,
            password=conn.password or None,
            insecure=insecure,
            extra={k: str(v) for k, v in extra.items()},
            **known,
        )

    def test_connection(self) -> tuple[bool, str]:
        """The connection form's "Test" button: reach the service as a task would, and say what
        answered. Runs in the API server, so the answer is scrubbed of the connection's secrets."""
        credentials = ANONYMOUS
        try:
            conn = self.get_connection(self.conn_id)
            credentials = self.credentials_of(conn)
            return True, credentials.scrub(self.check(str(conn.host or "").strip(), credentials))
        except FluxError as err:
            return False, credentials.scrub(str(err))
        except AirflowNotFoundException:
            return False, f"there is no Airflow connection {self.conn_id!r}"

    def check(self, host: str, credentials: Credentials) -> str:
        """Reach what ``host`` names with ``credentials``; return what was found (or raise FluxError)."""
        raise NotImplementedError

    @property
    def _subject(self) -> str:
        return f"{self.hook_name} connection"  # the UI tests under a random transient id

    def _required(self, host: str, example: str) -> str:
        if not host:
            raise ConnectionSetupError(f"set the {self._label()} to check, e.g. {example}", obj=self._subject)
        return host

    def _label(self) -> str:
        return "host"

    @classmethod
    def describe(cls) -> str:
        """``type flux_git (Flux Git repository: ...)``: what a user must create."""
        return f"type {cls.conn_type} ({cls.hook_name}: {cls.expected})" if cls.conn_type else cls.expected

    @classmethod
    def lookup(cls, name: str, *, obj: str, field: str) -> Credentials:
        """:class:`~airflow_flux_provider.credentials.SecretLookup` over this connection type."""
        return flux_credentials(cls, obj, secret_ref=name, field=field)


def flux_credentials(
    hook: type[FluxCredentialsHook],
    obj: str,
    *,
    conn_id: str | None = None,
    secret_ref: LocalObjectReference | str | None = None,
    field: str = "spec.secretRef",
) -> Credentials:
    """The credentials ``obj`` is fetched, pushed or notified with.

    The task's explicit ``conn_id`` wins, else the connection named like the object's
    ``secretRef`` (given at ``field``), else none (anonymous). A named connection that does
    not exist is an error naming the object, where the name came from and the type to create.
    """
    name = conn_id or (secret_ref if isinstance(secret_ref, str) or secret_ref is None else secret_ref.name)
    if not name:
        return ANONYMOUS
    if not _CONN_ID.fullmatch(name):  # a manifest from Git names it: keep what it can make us do small
        shown = name if len(name) <= 60 else f"{name[:60]}..."
        raise ConnectionSetupError(
            f"{shown!r} cannot be an Airflow connection id (letters, digits, '_', '.', '-'; at most 250)",
            obj=obj,
            field=None if conn_id else field,
        )
    try:
        conn = hook.get_connection(name)
    except AirflowNotFoundException:
        if conn_id:
            raise ConnectionSetupError(
                f"the task names the Airflow connection {name!r}, which does not exist; "
                f"create it with {hook.describe()} or fix the connection id",
                obj=obj,
            ) from None
        raise ConnectionSetupError(
            f"no Airflow connection {name!r} holds this secret; create the connection {name!r} "
            f"with {hook.describe()}",
            obj=obj,
            field=field,
        ) from None
    return hook.credentials_of(conn)


class GitCredentialsHook(FluxCredentialsHook):
    """Git over HTTPS (username + password or token) or SSH (private key + known_hosts)."""

    default_conn_name = "flux_git_default"
    conn_type = "flux_git"
    hook_name = "Flux Git repository"
    extra_fields = (
        "token",
        "ssh_private_key",
        "ssh_passphrase",
        "known_hosts",
        "ca_cert",
        "client_cert",
        "client_private_key",
        "insecure",
    )
    expected = "login/password or token for HTTPS; ssh_private_key and known_hosts for SSH"

    def check(self, host: str, credentials: Credentials) -> str:
        """``git ls-remote`` of the repository URL through the one Git transport."""
        from airflow_flux_provider.git.remote import Blame, GitRemote

        url = self._required(host, "https://github.com/org/repo.git or ssh://git@github.com/org/repo.git")
        remote = GitRemote(
            url, obj=self._subject, credentials=credentials, timeout=30, blame=Blame("host", "login/password")
        )
        with remote.connect() as session:
            head = session.ls_remote("HEAD").get("HEAD")
        found = f"HEAD at {head[:12]}" if head else "an empty repository"
        return f"git ls-remote {redact_url(url)}: {found}"


class RegistryCredentialsHook(FluxCredentialsHook):
    """An OCI / container registry (ImageRepository, OCIRepository, OCI Helm repositories)."""

    default_conn_name = "flux_registry_default"
    conn_type = "flux_registry"
    hook_name = "Flux OCI registry"
    extra_fields = ("token", "ca_cert", "client_cert", "client_private_key", "insecure")
    expected = "login/password or token"

    def check(self, host: str, credentials: Credentials) -> str:
        """``GET /v2/`` with the credentials (as ``docker login``); a named repository: its tags."""
        return registry_check(
            self._required(host, "ghcr.io or ghcr.io/org/app"), credentials, obj=self._subject
        )


class HelmRepositoryCredentialsHook(FluxCredentialsHook):
    """An HTTP(S) Helm chart repository with basic auth and optional TLS client certificates."""

    default_conn_name = "flux_helm_default"
    conn_type = "flux_helm"
    hook_name = "Flux Helm repository"
    extra_fields = ("ca_cert", "client_cert", "client_private_key", "insecure")
    expected = "login/password, or client_cert and client_private_key"

    def check(self, host: str, credentials: Credentials) -> str:
        """The repository's ``index.yaml`` (an ``oci://`` repository: a registry check)."""
        from airflow_flux_provider.sources.helm import MAX_INDEX_SIZE, HelmRepositorySource

        url = self._required(host, "https://charts.example.com or oci://ghcr.io/org/charts")
        if url.startswith("oci://"):
            return registry_check(url, credentials, obj=self._subject)
        source = HelmRepositorySource(url, obj=self._subject, credentials=credentials, timeout=30)
        entries = source.parse_index(source.index_bytes(MAX_INDEX_SIZE))["entries"]
        return f"{redact_url(url)}/index.yaml lists {len(entries)} chart(s)"


class BucketCredentialsHook(FluxCredentialsHook):
    """An S3-compatible bucket: login is the access key id, password the secret key."""

    default_conn_name = "flux_bucket_default"
    conn_type = "flux_bucket"
    hook_name = "Flux S3 bucket"
    extra_fields = ("token", "ca_cert", "insecure")
    host_key = "endpoint"
    expected = "login = access key id, password = secret access key"

    def check(self, host: str, credentials: Credentials) -> str:
        """The buckets the keys may list at the endpoint."""
        from airflow_flux_provider.sources.bucket import BucketSource

        endpoint = self._required(host, "s3.amazonaws.com or minio.example.com:9000")
        region = credentials.extra.get("region")
        names = BucketSource(
            "", endpoint, obj=self._subject, region=region, credentials=credentials
        ).bucket_names()
        shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
        return f"{endpoint} lists {len(names)} bucket(s)" + (f": {shown}" if names else "")


class NotificationCredentialsHook(FluxCredentialsHook):
    """A notification provider: host is the address, password the token or HMAC key."""

    default_conn_name = "flux_notification_default"
    conn_type = "flux_notification"
    hook_name = "Flux notification provider"
    extra_fields = ("token", "ca_cert", "insecure")
    host_key = "address"
    expected = "host = address, password = token or HMAC key"

    def check(self, host: str, credentials: Credentials) -> str:
        """Whether the address answers at all; no message is sent (a test would notify people)."""
        from airflow_flux_provider.notifications.http import reachable

        address = self._required(host, "https://hooks.slack.com/services/…")
        status = reachable(address, credentials, obj=self._subject)
        return (
            f"{redact_url(address, keep_path=False)} answered HTTP {status}; no message was sent, so the "
            "token or key is checked by the first event"
        )


def registry_check(host: str, credentials: Credentials, *, obj: str) -> str:
    """A registry connection's check: the registry answers and accepts the credentials; with a
    repository named, its tags are listed too (what an image scan does)."""
    from airflow_flux_provider.oci.client import RegistryClient
    from airflow_flux_provider.oci.reference import ImageReference

    ref = ImageReference.registry_or_repository(host, obj=obj, field="host")
    with RegistryClient(credentials, insecure=credentials.insecure, timeout=30, obj=obj) as client:
        client.ping(ref)
        if not ref.repository:
            return f"{ref.api_host} answered /v2/ and accepted the credentials"
        tags = client.list_tags(ref)
    return f"{ref.name} lists {len(tags)} tag(s)"
