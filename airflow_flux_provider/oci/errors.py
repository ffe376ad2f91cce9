"""The registry family of errors: what a call to an OCI registry can report.

Each names the object and the spec field the caller blamed (see
:class:`~airflow_flux_provider.oci.client.RegistryBlame`); sources and image scanning restate
them in their own families by type, never by reading the message.
"""

from __future__ import annotations

from airflow_flux_provider.errors import FluxError


class RegistryError(FluxError):
    """A registry call failed, or its answer is not what the distribution API promises."""


class ImageReferenceError(RegistryError):
    """An image or artifact reference is not valid (name, tag or digest)."""


class RegistryAuthError(RegistryError):
    """The registry (or its token service) refused the credentials, or asked for some."""


class RegistryNotFoundError(RegistryError):
    """The repository, tag, manifest or blob does not exist."""


class RegistryUnreachableError(RegistryError):
    """The registry could not be reached: DNS, connection, TLS, timeout, rate limit or 5xx."""


class RegistryTooLargeError(RegistryError):
    """A manifest, tag list or blob is larger than the limit it is read with."""
