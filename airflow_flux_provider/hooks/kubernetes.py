"""The cluster a task acts on, from the cncf-kubernetes ``kubernetes`` connection and nothing else.

:class:`ClusterHook` is cncf-kubernetes' ``KubernetesHook`` (same connection type, form, extras:
``kube_config_path``, ``kube_config``, ``in_cluster``, ``cluster_context``, ``disable_verify_ssl``)
with two differences that keep a task off a cluster nobody chose for it:

- a connection id that does not exist is an error naming it; the parent hook would hand back
  an empty ``kubernetes_default`` and so the worker's own configuration;
- the connection must say where the cluster is: one of ``kube_config_path`` (for the worker's
  own kubeconfig, ``~/.kube/config`` or the value of ``$KUBECONFIG``), ``kube_config`` or
  ``in_cluster``. An empty connection does not fall back to whatever the worker has.

Each hook loads its configuration into a ``Configuration`` of its own. The parent's
``get_conn`` loads in-cluster settings and ``disable_verify_ssl`` into the process-wide default,
which a triggerer serving several clusters at once would share between triggers.
Everything Kubernetes-facing (the Python client, helm's kubeconfig, impersonation) comes from
the :class:`~airflow_flux_provider.kube.Cluster` this hook returns.
"""

from __future__ import annotations

import asyncio
from typing import Any

from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_flux_provider.hooks import KUBERNETES_CONN_ID
from airflow_flux_provider.hooks.connections import ConnectionSetupError
from airflow_flux_provider.kube import Cluster

_SOURCES = ("kube_config_path", "kube_config", "in_cluster")


def _flag(value: Any) -> bool:
    """A boolean extra as cncf-kubernetes reads it (a checkbox, or the text "true")."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


class ClusterHook(KubernetesHook):
    """A :class:`Cluster` from one ``kubernetes`` connection; never the worker's implicit default."""

    def __init__(self, kubernetes_conn_id: str = KUBERNETES_CONN_ID, **kwargs: Any) -> None:
        super().__init__(kubernetes_conn_id=kubernetes_conn_id, **kwargs)
        self.conn_id: str = kubernetes_conn_id

    @classmethod
    def get_connection(cls, conn_id: str) -> Any:
        try:
            return super(KubernetesHook, cls).get_connection(conn_id)  # not the parent's empty default
        except AirflowNotFoundException:
            raise cls._missing(conn_id) from None

    @staticmethod
    def _missing(conn_id: str) -> ConnectionSetupError:
        return ConnectionSetupError(
            f"there is no Airflow connection {conn_id!r}; create it with type kubernetes and one of "
            f"{', '.join(_SOURCES)}, or fix kubernetes_conn_id",
            obj=f"Kubernetes connection '{conn_id}'",
        )

    def _problem(self, message: str) -> ConnectionSetupError:
        return ConnectionSetupError(message, obj=f"Kubernetes connection '{self.conn_id}'")

    def configuration(self) -> Any:
        """The connection's cluster as a ``kubernetes.client.Configuration`` of this hook's own."""
        import yaml
        from kubernetes import client, config

        in_cluster = _flag(self._coalesce_param(self.in_cluster, self._get_field("in_cluster")))
        path = self._coalesce_param(self.config_file, self._get_field("kube_config_path"))
        inline = self._coalesce_param(self.config_dict, self._get_field("kube_config"))
        chosen = [name for name, value in zip(_SOURCES, (path, inline, in_cluster), strict=True) if value]
        if len(chosen) != 1:
            raise self._problem(
                f"set exactly one of {', '.join(_SOURCES)} (found {', '.join(chosen) or 'none'}); "
                "for the worker's own kubeconfig set kube_config_path to ~/.kube/config or $KUBECONFIG"
            )
        context = self._coalesce_param(self.cluster_context, self._get_field("cluster_context"))
        configuration = client.Configuration()
        try:
            if in_cluster:
                config.load_incluster_config(client_configuration=configuration)
            elif path:
                config.load_kube_config(config_file=path, context=context, client_configuration=configuration)
            else:
                config.load_kube_config_from_dict(
                    self._kubeconfig_dict(inline), context=context, client_configuration=configuration
                )
        except yaml.YAMLError:  # its message quotes the file, which may hold a token
            raise self._problem(f"the file {path} is not a valid kubeconfig (YAML)") from None
        except (config.ConfigException, OSError, ValueError, TypeError) as err:
            raise self._problem(f"cannot load the {chosen[0]} configuration: {err}") from None
        disable_verify_ssl = self._coalesce_param(
            self.disable_verify_ssl, self._get_field("disable_verify_ssl")
        )
        if _flag(disable_verify_ssl):
            configuration.verify_ssl = False
        return configuration

    def _kubeconfig_dict(self, inline: Any) -> dict[str, Any]:
        """``kube_config`` as the form stores it: JSON or YAML text, or already a mapping."""
        import yaml

        if isinstance(inline, dict):
            return inline
        try:
            data = yaml.safe_load(str(inline))
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)  # the error's snippet could show a token
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise self._problem(f"kube_config is not valid JSON or YAML{where}") from None
        if not isinstance(data, dict):
            raise self._problem("kube_config must be a kubeconfig document (a mapping)")
        return data

    def get_conn(self) -> Any:
        """A ``kubernetes.client.ApiClient`` on :meth:`configuration` (the parent hook's contract)."""
        from kubernetes import client

        return client.ApiClient(self.configuration())

    def cluster(self, *, impersonate: str | None = None) -> Cluster:
        """The connection's cluster, acting as ``impersonate`` when given (a service account user)."""
        cluster = Cluster(self.get_conn())
        return cluster.impersonating(impersonate) if impersonate else cluster

    async def acluster(self, *, impersonate: str | None = None) -> Cluster:
        """:meth:`cluster` for triggers: the connection is read the triggerer's way, the
        kubeconfig (and the kubernetes package) loaded in a thread, off the event loop."""
        try:
            connection = await self.aget_connection(self.conn_id)
        except AirflowNotFoundException:
            raise self._missing(self.conn_id) from None
        self.__dict__["conn_extras"] = connection.extra_dejson  # what the parent caches on first use
        return await asyncio.to_thread(self.cluster, impersonate=impersonate)
