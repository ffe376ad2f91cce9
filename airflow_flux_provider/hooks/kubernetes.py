"""A :class:`~airflow_flux_provider.kube.Cluster` from the cncf-kubernetes ``kubernetes`` connection.

The connection's extras are read the way the cncf-kubernetes provider reads them
(``kube_config_path``, ``kube_config``, ``in_cluster``, ``cluster_context``,
``disable_verify_ssl``); without a connection the usual ``KUBECONFIG`` / ``~/.kube/config``
applies. Triggers call :func:`cluster_from_extras` with extras fetched asynchronously.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_flux_provider.kube import Cluster
from airflow_flux_provider.kube.cluster import KubeError

DEFAULT_CONN_ID = "kubernetes_default"


def _extra(extras: dict[str, Any], name: str) -> Any:
    # Older connections prefix extras with the connection type; both spellings are accepted.
    return extras.get(name, extras.get(f"extra__kubernetes__{name}"))


def cluster_from_extras(extras: dict[str, Any], *, impersonate: str | None = None) -> Cluster:
    from kubernetes import client, config

    configuration = client.Configuration()
    context = _extra(extras, "cluster_context") or None
    try:
        if str(_extra(extras, "in_cluster") or "").lower() in ("true", "1"):
            config.load_incluster_config(client_configuration=configuration)
        elif _extra(extras, "kube_config"):
            raw = _extra(extras, "kube_config")
            data = raw if isinstance(raw, dict) else json.loads(raw) if raw.lstrip().startswith("{") else None
            if data is None:
                import yaml

                data = yaml.safe_load(raw)
            config.load_kube_config_from_dict(data, context=context, client_configuration=configuration)
        else:
            config.load_kube_config(
                config_file=_extra(extras, "kube_config_path") or None,
                context=context,
                client_configuration=configuration,
            )
    except (config.ConfigException, OSError, ValueError) as err:
        raise KubeError(
            f"cannot load the cluster configuration: {err}; set kube_config_path or kube_config in the "
            "Kubernetes connection",
            obj="Kubernetes connection",
        ) from None
    if str(_extra(extras, "disable_verify_ssl") or "").lower() in ("true", "1"):
        configuration.verify_ssl = False
    api_client = client.ApiClient(configuration)
    if impersonate:
        api_client.set_default_header("Impersonate-User", impersonate)
    return Cluster(api_client)


def connection_extras(conn_id: str | None) -> dict[str, Any]:
    """The connection's extras, or ``{}`` when there is no such connection (use the default kubeconfig)."""
    if not conn_id:
        return {}
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(conn_id).extra_dejson
    except AirflowNotFoundException:  # no such connection: KUBECONFIG, as kubectl would
        return {}


async def aconnection_extras(conn_id: str | None) -> dict[str, Any]:
    """:func:`connection_extras` for triggers.

    ``sync_to_async`` rather than a bare thread: the triggerer (and ``dag.test()``'s in-process
    trigger runner) answers connection lookups on its own event loop.
    """
    from asgiref.sync import sync_to_async

    return dict(await sync_to_async(connection_extras)(conn_id))


def service_account_user(namespace: str, name: str) -> str:
    """The identity a Kustomization's ``serviceAccountName`` is impersonated as."""
    return f"system:serviceaccount:{namespace}:{name}"
