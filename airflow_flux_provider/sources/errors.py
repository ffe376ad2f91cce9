"""The source family of errors: every failure a fetch can report to the user."""

from __future__ import annotations

from airflow_flux_provider.errors import FluxError


class SourceError(FluxError):
    """Fetching or storing a source failed in a way the user can fix (URL, ref, credentials, limits)."""


class UnsafeArchiveError(SourceError):
    """An archive entry would land outside its target folder (tar-slip, escaping symlink, device)."""


class ArtifactTooLargeError(SourceError):
    """An archive or its content exceeds the configured size limit."""


class RevisionNotFoundError(SourceError):
    """The ref, tag, version or digest asked for does not exist at the source."""


class ArtifactStoreError(SourceError):
    """The artifact store (a folder or an object store) refused or could not be reached."""
