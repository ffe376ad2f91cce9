"""Waits in the triggerer until an ImagePolicy would choose a different tag than last time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Any, Literal, TypedDict

from airflow.triggers.base import TriggerEvent

from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.errors import FluxError, object_ref
from airflow_flux_provider.triggers.base import ErrorEvent, RecordedTrigger, error_event, poll_until_changed


class TagChanged(TypedDict):
    """The policy now chooses ``tag`` (``ref`` = image:tag), not ``previous``."""

    status: Literal["changed"]
    policy: str
    image: str
    tag: str
    ref: str
    previous: str | None


#: What an :class:`ImagePolicyTrigger` fires.
ImagePolicyEvent = TagChanged | ErrorEvent


def policy_check(
    repository: dict[str, Any], policy: dict[str, Any], credentials: Credentials, last_tag: str | None
) -> TagChanged | None:
    """Scan and choose once; the event payload when the choice differs from ``last_tag``."""
    from airflow_flux_provider.images.errors import NoTagError
    from airflow_flux_provider.images.policy import PolicyResult, TagPolicy, policy_key
    from airflow_flux_provider.images.registry import scan_repository
    from airflow_flux_provider.specs import parse_object
    from airflow_flux_provider.specs.images import ImagePolicy, ImageRepository

    repo_obj = parse_object(repository, source="ImagePolicySensor repository")
    policy_obj = parse_object(policy, source="ImagePolicySensor policy")
    if not isinstance(repo_obj, ImageRepository) or not isinstance(policy_obj, ImagePolicy):
        raise FluxError(
            f"expected an ImageRepository and an ImagePolicy, got {repo_obj.ref} and {policy_obj.ref}",
            field="repository/policy",
        )
    scan = scan_repository(repo_obj, credentials)
    try:
        tag = TagPolicy.from_object(policy_obj).latest(scan.tags)
    except NoTagError:
        return None
    if tag == last_tag:
        return None
    return {
        "status": "changed",
        "policy": policy_key(policy_obj),
        "image": scan.image,
        "tag": tag,
        "ref": PolicyResult(scan.image, tag).ref,
        "previous": last_tag,
    }


def repository_credentials(repository: dict[str, Any], registry_conn_id: str | None) -> Credentials:
    """Blocking: the registry connection, ``registry_conn_id`` else the repository's ``secretRef``."""
    from airflow_flux_provider.hooks.connections import RegistryCredentialsHook, flux_credentials

    meta = repository.get("metadata") or {}
    secret = ((repository.get("spec") or {}).get("secretRef") or {}).get("name")
    ref = object_ref("ImageRepository", str(meta.get("name", "")), meta.get("namespace"))
    return flux_credentials(RegistryCredentialsHook, ref, conn_id=registry_conn_id, secret_ref=secret)


class ImagePolicyTrigger(RecordedTrigger):
    """Re-scans every ``poll_interval`` seconds; fires ``changed`` with the new tag, or ``error``."""

    def __init__(
        self,
        *,
        repository: dict[str, Any],
        policy: dict[str, Any],
        last_tag: str | None,
        registry_conn_id: str | None,
        poll_interval: float,
    ) -> None:
        super().__init__()
        self.repository = repository
        self.policy = policy
        self.last_tag = last_tag
        self.registry_conn_id = registry_conn_id
        self.poll_interval = poll_interval

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from asgiref.sync import sync_to_async

        try:
            # sync_to_async, not a bare thread: the triggerer answers connection lookups on its own loop
            lookup = sync_to_async(repository_credentials)
            credentials = await lookup(self.repository, self.registry_conn_id)
        except FluxError as err:
            yield TriggerEvent(error_event(err))
            return
        check = partial(policy_check, self.repository, self.policy, credentials, self.last_tag)
        async for event in poll_until_changed(check, self.poll_interval):
            yield event
