"""Flux receivers inside the Airflow API server: ``POST /flux/hook/<sha256>``.

Enable: the ``airflow.plugins`` entry point registers :class:`FluxReceiverPlugin`; point
``[flux] receivers_path`` (``AIRFLOW__FLUX__RECEIVERS_PATH``) at a folder of Receiver
manifests and create, per ``secretRef.name``, an Airflow connection whose password is
the token. Each receiver answers at ``<api-server>/flux`` + its ``webhookPath``
(``/hook/`` + sha256(token + name + namespace), as Flux publishes it). The folder is
re-read every 30 s. What a receiver starts: the DAGs named in its annotation
``airflow-flux-provider.io/trigger-dags`` and an asset event for each resource's asset
``flux://<namespace>/<Kind>/<name>`` (see :mod:`airflow_flux_provider.receivers.receiver`).

Airflow does not authenticate plugin apps, so every request proves itself (HMAC
signature, token header or the secret path, per type) before anything happens; wrong or
missing proofs get 401. Bodies over ``[flux] receiver_max_body_bytes`` (1 MiB) get 413,
JSON nested deeper than 64 levels 400; repeated delivery ids (``X-GitHub-Delivery``,
``X-Gitlab-Event-UUID``…) within ``receiver_dedupe_window_seconds`` (a day) are
acknowledged without acting, and so are repeated bodies with ``receiver_dedupe_bodies``;
``receiver_rate_limit_per_minute`` (0: none) caps what one receiver triggers (429 beyond).
For ``generic`` receivers the path is the secret: keep the API server's
access log private, since it records request paths.

How a valid request acts: the API server has metadata-DB access, so the plugin calls the
same functions the REST API's routes call (``trigger_dag`` and
``asset_manager.register_asset_change``) in-process. We chose this over calling the REST
API back (needs a stored service credential and an extra HTTP hop) and over an
``AssetWatcher`` trigger (needs a durable queue and the triggerer's polling delay).
Those functions are internal to Airflow, so they are used in this one module only and
the receiver tests exercise them against a real API server of the pinned version.
DAG run ids derive from the delivery id and asset events record it, so a retry that
reaches another API server worker still creates nothing twice.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/flux"


class _ReceiverApps:
    """``fastapi_apps``, built on first access: only the API server ever reads it."""

    def __init__(self) -> None:
        self._apps: list[dict[str, Any]] | None = None

    def __get__(self, instance: object, owner: type) -> list[dict[str, Any]]:
        if self._apps is None:
            from airflow_flux_provider import settings
            from airflow_flux_provider.plugins.receiver_app import (
                ReceiverConfig,
                create_app,
                load_index_from_airflow_config,
            )

            app = create_app(
                ReceiverConfig(load_index_from_airflow_config),
                max_body=settings.receiver_max_body_bytes(),
                guard=settings.receiver_guard(),
            )
            self._apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Flux receivers"}]
        return self._apps


class FluxReceiverPlugin(AirflowPlugin):
    """Serves Flux Receiver webhooks under ``/flux/hook/`` in the API server."""

    name = "flux_receivers"
    fastapi_apps = _ReceiverApps()
