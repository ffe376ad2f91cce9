"""Airflow connection types for the credentials Flux objects reference through ``secretRef``.

Mapping rule: a Flux ``secretRef: {name: NAME}`` is read from the Airflow connection whose
id is ``NAME``; every operator also takes an explicit ``*_conn_id`` that wins over it.
Kubernetes access uses the cncf-kubernetes provider's ``kubernetes`` connection type.

Each hook turns its connection into :class:`~airflow_flux_provider.credentials.Credentials`
so the capability packages never import Airflow.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.sdk import BaseHook

from airflow_flux_provider.credentials import Credentials


class FluxCredentialsHook(BaseHook):
    """Reads one connection into :class:`Credentials`; subclasses only declare their type."""

    conn_name_attr = "conn_id"
    default_conn_name = ""
    conn_type = ""
    hook_name = ""
    # Connection extras copied into Credentials fields of the same name.
    extra_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id or self.default_conn_name

    def get_conn(self) -> Credentials:
        return self._credentials(self.get_connection(self.conn_id))

    def host_and_credentials(self) -> tuple[str | None, Credentials]:
        """The connection's host (an endpoint or address) and its credentials, from one lookup."""
        conn = self.get_connection(self.conn_id)
        return conn.host or None, self._credentials(conn)

    def _credentials(self, conn: Any) -> Credentials:
        extra = conn.extra_dejson
        known = {name: extra.get(name) for name in self.extra_fields if extra.get(name) not in (None, "")}
        insecure = str(known.pop("insecure", "false")).lower() in ("true", "1", "yes")
        return Credentials(
            username=conn.login or None,
            password=conn.password or None,
            insecure=insecure,
            extra={k: str(v) for k, v in extra.items() if k not in self.extra_fields},
            **known,
        )


class GitCredentialsHook(FluxCredentialsHook):
    """Git over HTTPS (username + password or token) or SSH (private key + known_hosts)."""

    default_conn_name = "flux_git_default"
    conn_type = "flux_git"
    hook_name = "Flux Git repository"
    extra_fields = ("token", "ssh_private_key", "ssh_passphrase", "known_hosts", "ca_cert", "insecure")


class RegistryCredentialsHook(FluxCredentialsHook):
    """An OCI / container registry (ImageRepository, OCIRepository, OCI Helm repositories)."""

    default_conn_name = "flux_registry_default"
    conn_type = "flux_registry"
    hook_name = "Flux OCI registry"
    extra_fields = ("token", "ca_cert", "client_cert", "client_key", "insecure")


class HelmRepositoryCredentialsHook(FluxCredentialsHook):
    """An HTTP(S) Helm chart repository with basic auth and optional TLS client certificates."""

    default_conn_name = "flux_helm_default"
    conn_type = "flux_helm"
    hook_name = "Flux Helm repository"
    extra_fields = ("ca_cert", "client_cert", "client_key", "insecure")


class BucketCredentialsHook(FluxCredentialsHook):
    """An S3-compatible bucket: login is the access key id, password the secret key."""

    default_conn_name = "flux_bucket_default"
    conn_type = "flux_bucket"
    hook_name = "Flux S3 bucket"
    extra_fields = ("token", "ca_cert", "insecure")


class NotificationCredentialsHook(FluxCredentialsHook):
    """A notification provider: host is the address, password the token or HMAC key."""

    default_conn_name = "flux_notification_default"
    conn_type = "flux_notification"
    hook_name = "Flux notification provider"
    extra_fields = ("token", "ca_cert", "insecure")
