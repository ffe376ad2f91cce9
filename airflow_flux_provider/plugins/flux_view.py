"""The "Flux" view of the Airflow UI, served by the API server at ``/flux-view/`` and shown in the
nav as "Flux" (an external view the UI embeds). The app is
:mod:`~airflow_flux_provider.plugins.flux_view_app`, built on first access so that the other
Airflow processes, which load every plugin, never import FastAPI for it.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from airflow_flux_provider.links.flux_view import VIEW_PATH


class _ViewApps:
    """``fastapi_apps``, built on first access: only the API server ever reads it."""

    def __init__(self) -> None:
        self._apps: list[dict[str, Any]] | None = None

    def __get__(self, instance: object, owner: type) -> list[dict[str, Any]]:
        if self._apps is None:
            from airflow_flux_provider.plugins.flux_view_app import create_app

            self._apps = [{"app": create_app(), "url_prefix": VIEW_PATH, "name": "Flux view"}]
        return self._apps


class FluxViewPlugin(AirflowPlugin):
    """Serves the Flux view at ``/flux-view/`` and puts it in the nav as "Flux"."""

    name = "flux_view"
    fastapi_apps = _ViewApps()
    external_views = [
        {
            "name": "Flux",
            "href": f"{VIEW_PATH}/",
            "destination": "nav",
            "url_route": "flux",
            "icon": f"{VIEW_PATH}/static/flux.svg",
        }
    ]
