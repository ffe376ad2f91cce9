"""Flagger-style canary analysis: bootstrap, routers, metric checks, webhooks and the tick.

Plain Python (no Airflow). :func:`~airflow_flux_provider.canary.analysis.tick` runs one
Flagger reconcile step over a :class:`~airflow_flux_provider.canary.status.CanaryStatus`;
:class:`~airflow_flux_provider.canary.environment.ClusterEnvironment` is the real world
it acts on (Kubernetes objects through ``Cluster``, Prometheus, webhook endpoints).
"""

from airflow_flux_provider.canary.analysis import TickResult, tick
from airflow_flux_provider.canary.environment import ClusterEnvironment
from airflow_flux_provider.canary.errors import CanaryError
from airflow_flux_provider.canary.status import CanaryStatus, load_status, save_status

__all__ = [
    "CanaryError",
    "CanaryStatus",
    "ClusterEnvironment",
    "TickResult",
    "load_status",
    "save_status",
    "tick",
]
