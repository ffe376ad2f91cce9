"""The sandbox: a local Kubernetes API server that real kubectl, helm and client libraries work against.

Tests and the demo use it as the embedded default cluster; it is never a production target.
"""

from airflow_flux_provider.sandbox.cluster import Sandbox
from airflow_flux_provider.sandbox.simulator import SimulatorSettings
from airflow_flux_provider.sandbox.status import SandboxError

__all__ = ["Sandbox", "SandboxError", "SimulatorSettings"]
