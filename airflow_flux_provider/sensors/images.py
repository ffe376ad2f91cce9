"""``ImagePolicySensor``: succeed when an ImagePolicy's chosen tag changes, emitting an Asset event.

Deferrable by default (the wait runs in the triggerer as
:class:`~airflow_flux_provider.triggers.images.ImagePolicyTrigger`). Give the tag deployed
last (``last_tag``, e.g. from the previous run's XCom); the sensor fires on the first scan
whose choice differs. Its outlet is the policy's Asset (``flux://<namespace>/ImagePolicy/<name>``) unless
``outlets`` are given; the event's extra carries the new tag and reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from airflow_flux_provider.assets import flux_asset
from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.sensors.base import ChangeSensor
from airflow_flux_provider.triggers.images import (
    ImagePolicyTrigger,
    TagChanged,
    policy_check,
    repository_credentials,
)


def _manifest(value: dict[str, Any] | str, field: str, task: str) -> dict[str, Any]:
    data = yaml.safe_load(value) if isinstance(value, str) else value
    if not isinstance(data, dict):
        raise FluxError("must be a manifest (mapping or YAML text)", obj=f"task '{task}'", field=field)
    return data


class ImagePolicySensor(ChangeSensor):
    template_fields: Sequence[str] = ("repository", "policy", "last_tag", "registry_conn_id")
    trigger_failed = "the image policy trigger failed"
    extra_fields = ("policy", "image", "tag", "ref", "previous")

    def __init__(
        self,
        *,
        repository: dict[str, Any] | str,
        policy: dict[str, Any] | str,
        last_tag: str | None = None,
        registry_conn_id: str | None = None,
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        if "outlets" not in kwargs and isinstance(policy, dict):
            meta = policy.get("metadata") or {}
            kwargs["outlets"] = [
                flux_asset("ImagePolicy", meta.get("namespace", "flux-system"), meta.get("name", ""))
            ]
        super().__init__(deferrable=deferrable, **kwargs)
        self.repository = repository
        self.policy = policy
        self.last_tag = last_tag
        self.registry_conn_id = registry_conn_id

    def _inputs(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return (
            _manifest(self.repository, "repository", self.task_id),
            _manifest(self.policy, "policy", self.task_id),
        )

    def check(self) -> TagChanged | None:
        repository, policy = self._inputs()
        credentials = repository_credentials(repository, self.registry_conn_id)
        return policy_check(repository, policy, credentials, self.last_tag or None)

    def trigger(self) -> ImagePolicyTrigger:
        repository, policy = self._inputs()
        return ImagePolicyTrigger(
            repository=repository,
            policy=policy,
            last_tag=self.last_tag or None,
            registry_conn_id=self.registry_conn_id,
            poll_interval=self.poke_interval,
        )
