"""Flagger-style canary analysis: bootstrap, routers, metric checks, webhooks and the tick.

Plain Python (no Airflow). One analysis step is::

    canary = parse_object(manifest)                     # specs.flagger.Canary
    env = ClusterEnvironment(cluster, canary)           # workloads, router, Prometheus, webhooks
    result = tick(canary, load_status(cluster, ns, name), env)
    save_status(cluster, ns, name, result.status)       # Canary .status: the durable state

``result.decision`` says what happened, ``result.metrics`` what was measured (at
``result.measured_weight``), ``result.finished`` whether the revision is done
(``Succeeded``/``Failed``/idle). The caller waits ``analysis.interval`` between ticks.
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
