"""Waits in the triggerer until a source has a revision other than the one last fetched.

Each poll is the cheap check Flux does before fetching: ``git ls-remote`` for a
GitRepository, one listing for a Bucket, a manifest HEAD for an OCIRepository, the
digest of index.yaml for a HelmRepository. No content is fetched and no worker slot is
held; the blocking call runs in a thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any, Literal, TypedDict

from airflow.triggers.base import TriggerEvent

from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.hooks.connections import (
    BucketCredentialsHook,
    FluxCredentialsHook,
    GitCredentialsHook,
    HelmRepositoryCredentialsHook,
    RegistryCredentialsHook,
    flux_credentials,
)
from airflow_flux_provider.triggers.base import ErrorEvent, RecordedTrigger, error_event, poll_until_changed


def _git(obj: Any, credentials: Credentials) -> str:
    from airflow_flux_provider.sources.git import GitSource

    return GitSource.from_spec(obj, credentials).resolve().revision


def _bucket(obj: Any, credentials: Credentials) -> str:
    from airflow_flux_provider.sources.bucket import BucketSource

    return BucketSource.from_spec(obj, credentials).revision()


def _oci(obj: Any, credentials: Credentials) -> str:
    from airflow_flux_provider.sources.oci import OCISource

    return OCISource.from_spec(obj, credentials).resolve().revision


def _helm(obj: Any, credentials: Credentials) -> str:
    from airflow_flux_provider.sources.helm import HelmRepositorySource

    return HelmRepositorySource.from_spec(obj, credentials).revision()


#: kind -> (its connection type's hook, "what revision does the source have now")
REVISION_CHECKS: dict[str, tuple[type[FluxCredentialsHook], Callable[[Any, Credentials], str]]] = {
    "GitRepository": (GitCredentialsHook, _git),
    "Bucket": (BucketCredentialsHook, _bucket),
    "OCIRepository": (RegistryCredentialsHook, _oci),
    "HelmRepository": (HelmRepositoryCredentialsHook, _helm),
}


def _parse(manifest: dict[str, Any]) -> Any:
    from airflow_flux_provider.specs import parse_object

    obj = parse_object(manifest, source="source sensor")
    if obj.kind not in REVISION_CHECKS:
        raise FluxError(
            f"cannot watch a {obj.kind}; use one of {', '.join(REVISION_CHECKS)}", obj=obj.ref, field="kind"
        )
    return obj


class RevisionChanged(TypedDict):
    """The source ``source`` (``Kind/namespace/name``) is at ``revision`` now, not ``previous``."""

    status: Literal["changed"]
    source: str
    revision: str
    previous: str | None


#: What a :class:`SourceRevisionTrigger` fires.
SourceEvent = RevisionChanged | ErrorEvent


def revision_check(
    manifest: dict[str, Any], credentials: Credentials, last_revision: str | None
) -> RevisionChanged | None:
    """The event payload when the source's current revision differs from ``last_revision``."""
    obj = _parse(manifest)
    revision = REVISION_CHECKS[obj.kind][1](obj, credentials)
    if revision == last_revision:
        return None
    return {"status": "changed", "source": obj.ref, "revision": revision, "previous": last_revision}


def source_credentials(manifest: dict[str, Any], conn_id: str | None) -> Credentials:
    """Blocking: the source's connection, ``conn_id`` else its ``secretRef``, with its kind's type."""
    obj = _parse(manifest)
    hook = REVISION_CHECKS[obj.kind][0]
    return flux_credentials(hook, obj.ref, conn_id=conn_id, secret_ref=obj.spec.secret_ref)


class SourceRevisionTrigger(RecordedTrigger):
    """Polls every ``poll_interval`` seconds; fires ``changed`` with the new revision, or ``error``."""

    def __init__(
        self,
        *,
        manifest: dict[str, Any],
        last_revision: str | None,
        conn_id: str | None,
        poll_interval: float,
    ) -> None:
        super().__init__()
        self.manifest = manifest
        self.last_revision = last_revision
        self.conn_id = conn_id
        self.poll_interval = poll_interval

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from asgiref.sync import sync_to_async

        try:
            # sync_to_async, not a bare thread: the triggerer answers connection lookups on its own
            # loop (and the pydantic parse stays off this one)
            credentials = await sync_to_async(source_credentials)(self.manifest, self.conn_id)
        except FluxError as err:
            yield TriggerEvent(error_event(err))
            return
        check = partial(revision_check, self.manifest, credentials, self.last_revision)
        async for event in poll_until_changed(check, self.poll_interval):
            yield event
