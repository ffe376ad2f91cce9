"""``SourceRevisionSensor``: succeed when a Git/Bucket/OCI/Helm repository source has a new revision.

Deferrable by default (the wait runs in the triggerer as
:class:`~airflow_flux_provider.triggers.sources.SourceRevisionTrigger`). ``last_revision``
is the revision fetched last (e.g. ``{{ ti.xcom_pull(...)['revision'] }}``); without one,
the revision of the newest artifact in the store is used, so the sensor waits for the
next change after the last fetch. Its outlet is the source's Asset, with
``{revision, previous}`` in the event's extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from airflow_flux_provider.assets import flux_asset
from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.operators.sources import artifact_store
from airflow_flux_provider.sensors.base import ChangeSensor
from airflow_flux_provider.triggers.sources import (
    RevisionChanged,
    SourceRevisionTrigger,
    revision_check,
    source_credentials,
)


class SourceRevisionSensor(ChangeSensor):
    template_fields: Sequence[str] = (
        "manifest",
        "last_revision",
        "conn_id",
        "artifacts_url",
        "artifacts_conn_id",
    )
    template_ext: Sequence[str] = (".yaml", ".yml")
    trigger_failed = "the source trigger failed"
    extra_fields = ("revision", "previous")

    def __init__(
        self,
        *,
        manifest: dict[str, Any] | str,
        last_revision: str | None = None,
        conn_id: str | None = None,
        artifacts_url: str | None = None,
        artifacts_conn_id: str | None = None,
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        if "outlets" not in kwargs and isinstance(manifest, dict):
            meta = manifest.get("metadata") or {}
            kind, namespace = str(manifest.get("kind")), meta.get("namespace", "default")
            kwargs["outlets"] = [flux_asset(kind, namespace, str(meta.get("name")))]
        super().__init__(deferrable=deferrable, **kwargs)
        self.manifest = manifest
        self.last_revision = last_revision
        self.conn_id = conn_id
        self.artifacts_url = artifacts_url
        self.artifacts_conn_id = artifacts_conn_id

    def _inputs(self) -> tuple[dict[str, Any], str | None]:
        data = yaml.safe_load(self.manifest) if isinstance(self.manifest, str) else self.manifest
        if not isinstance(data, dict):
            raise FluxError("must be a source manifest (mapping or YAML text)", obj=f"task '{self.task_id}'")
        last = self.last_revision
        if not last:
            meta = data.get("metadata") or {}
            ref = f"{data.get('kind')}/{meta.get('namespace', 'default')}/{meta.get('name')}"
            stored = artifact_store(self.artifacts_url, self.artifacts_conn_id).latest(ref)
            last = stored.revision if stored else None
        return data, last

    def check(self) -> RevisionChanged | None:
        manifest, last = self._inputs()
        return revision_check(manifest, source_credentials(manifest, self.conn_id), last)

    def trigger(self) -> SourceRevisionTrigger:
        manifest, last = self._inputs()
        return SourceRevisionTrigger(
            manifest=manifest, last_revision=last, conn_id=self.conn_id, poll_interval=self.poke_interval
        )
