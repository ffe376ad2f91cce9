"""The cluster a task acts on, from the cncf-kubernetes ``kubernetes`` connection and nothing else.

:class:`ClusterHook` reads the connection type cncf-kubernetes registers (its form, its extras
``kube_config_path``, ``kube_config``, ``in_cluster``, ``cluster_context``,
``disable_verify_ssl``, also under their older ``extra__kubernetes__`` names) but is not that
provider's ``KubernetesHook``: importing that hook loads ``kubernetes_asyncio`` next to
``kubernetes``, seconds of CPU in every task process. It also differs in what it accepts,
which keeps a task off a cluster nobody chose for it:

- a connection id that does not exist is an error naming it; the cncf hook would hand back
  an empty ``kubernetes_default`` and so the worker's own configuration;
- the connection must say where the cluster is: one of ``kube_config_path`` (for the worker's
  own kubeconfig, ``~/.kube/config`` or the value of ``$KUBECONFIG``), ``kube_config`` or
  ``in_cluster``. An empty connection does not fall back to whatever the worker has.

Each hook loads its configuration into a ``Configuration`` of its own, never the process-wide
default, which a triggerer serving several clusters at once would share between triggers.
Everything Kubernetes-facing (the Python client, helm's kubeconfig, impersonation) comes from
the :class:`~airflow_flux_provider.kube.Cluster` this hook returns.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_flux_provider.hooks import KUBERNETES_CONN_ID
from airflow_flux_provider.hooks.connections import ConnectionSetupError
from airflow_flux_provider.kube import Cluster

_SOURCES = ("kube_config_path", "kube_config", "in_cluster")
_LEGACY_PREFIX = "extra__kubernetes__"  # how forms before Airflow 2.3 stored the extras


def _flag(value: Any) -> bool:
    """A boolean extra as cncf-kubernetes reads it (a checkbox, or the text "true")."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


@dataclass(frozen=True)
class KubernetesExtras:
    """The extras of a ``kubernetes`` connection this hook reads; an empty value counts as unset."""

    kube_config_path: str | None = None
    kube_config: str | dict[str, Any] | None = None  # the form's text, or a mapping set in JSON
    in_cluster: bool = False
    cluster_context: str | None = None
    disable_verify_ssl: bool = False

    @classmethod
    def of(cls, extra: dict[str, Any]) -> KubernetesExtras:
        def field(name: str) -> Any:  # the plain name wins, even when empty, as in cncf-kubernetes
            return (extra[name] if name in extra else extra.get(_LEGACY_PREFIX + name)) or None

        def text(name: str) -> str | None:
            value = field(name)
            return None if value is None else str(value)

        inline = field("kube_config")
        return cls(
            kube_config_path=text("kube_config_path"),
            kube_config=inline if inline is None or isinstance(inline, dict) else str(inline),
            in_cluster=_flag(field("in_cluster")),
            cluster_context=text("cluster_context"),
            disable_verify_ssl=_flag(field("disable_verify_ssl")),
        )


class ClusterHook(BaseHook):
    """A :class:`Cluster` from one ``kubernetes`` connection; never the worker's implicit default."""

    conn_name_attr = "kubernetes_conn_id"
    default_conn_name = KUBERNETES_CONN_ID
    conn_type = "kubernetes"  # registered, with its form, by cncf-kubernetes
    hook_name = "Kubernetes Cluster Connection"

    def __init__(self, kubernetes_conn_id: str = KUBERNETES_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id: str = kubernetes_conn_id
        self._extras: KubernetesExtras | None = None

    @staticmethod
    def _missing(conn_id: str) -> ConnectionSetupError:
        return ConnectionSetupError(
            f"there is no Airflow connection {conn_id!r}; create it with type kubernetes and one of "
            f"{', '.join(_SOURCES)}, or fix kubernetes_conn_id",
            obj=f"Kubernetes connection '{conn_id}'",
        )

    def _problem(self, message: str) -> ConnectionSetupError:
        return ConnectionSetupError(message, obj=f"Kubernetes connection '{self.conn_id}'")

    def extras(self) -> KubernetesExtras:
        """The connection's extras, read once per hook."""
        if self._extras is None:
            try:
                connection = self.get_connection(self.conn_id)
            except AirflowNotFoundException:
                raise self._missing(self.conn_id) from None
            self._extras = KubernetesExtras.of(connection.extra_dejson)
        return self._extras

    def configuration(self) -> Any:
        """The connection's cluster as a ``kubernetes.client.Configuration`` of this hook's own."""
        import yaml
        from kubernetes import client, config

        extras = self.extras()
        path, inline, in_cluster = extras.kube_config_path, extras.kube_config, extras.in_cluster
        chosen = [name for name, value in zip(_SOURCES, (path, inline, in_cluster), strict=True) if value]
        if len(chosen) != 1:
            raise self._problem(
                f"set exactly one of {', '.join(_SOURCES)} (found {', '.join(chosen) or 'none'}); "
                "for the worker's own kubeconfig set kube_config_path to ~/.kube/config or $KUBECONFIG"
            )
        context = extras.cluster_context
        configuration = client.Configuration()
        try:
            if in_cluster:
                config.load_incluster_config(client_configuration=configuration)
            elif path:
                config.load_kube_config(config_file=path, context=context, client_configuration=configuration)
            elif inline:
                config.load_kube_config_from_dict(
                    self._kubeconfig_dict(inline), context=context, client_configuration=configuration
                )
        except yaml.YAMLError:  # its message quotes the file, which may hold a token
            raise self._problem(f"the file {path} is not a valid kubeconfig (YAML)") from None
        except (config.ConfigException, OSError, ValueError, TypeError) as err:
            raise self._problem(f"cannot load the {chosen[0]} configuration: {err}") from None
        if extras.disable_verify_ssl:
            configuration.verify_ssl = False
        return configuration

    def _kubeconfig_dict(self, inline: str | dict[str, Any]) -> dict[str, Any]:
        """``kube_config`` as the form stores it: JSON or YAML text, or already a mapping."""
        import yaml

        if isinstance(inline, dict):
            return inline
        try:
            data = yaml.safe_load(inline)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)  # the error's snippet could show a token
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise self._problem(f"kube_config is not valid JSON or YAML{where}") from None
        if not isinstance(data, dict):
            raise self._problem("kube_config must be a kubeconfig document (a mapping)")
        return data

    def get_conn(self) -> Any:
        """A ``kubernetes.client.ApiClient`` on :meth:`configuration` (``BaseHook``'s contract)."""
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
        self._extras = KubernetesExtras.of(connection.extra_dejson)
        return await asyncio.to_thread(self.cluster, impersonate=impersonate)
