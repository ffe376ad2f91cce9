"""The Git family of errors: what a git command against a remote can report to the user.

A Git repository is a source, so the family is part of the source errors; image-update
automation restates them against its own object.
"""

from __future__ import annotations

from airflow_flux_provider.sources.errors import SourceError


class GitError(SourceError):
    """A git command failed in a way the user can fix (URL, ref, credentials, server)."""


class GitAuthError(GitError):
    """The remote refused the credentials (or asked for some and got none)."""


class GitUnreachableError(GitError):
    """The host could not be reached (DNS, refused connection, timeout, TLS)."""


class GitRejectedError(GitError):
    """The remote refused a push (non-fast-forward, protected branch, hook)."""

    def __init__(self, message: str, *, obj: str | None = None, field: str | None = None, race: bool) -> None:
        super().__init__(message, obj=obj, field=field)
        self.race = race  # someone else pushed first: fetching and trying again may succeed
