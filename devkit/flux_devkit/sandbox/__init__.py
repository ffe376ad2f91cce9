"""The sandbox: a local Kubernetes API server that real kubectl, helm and client libraries work against.

Tests and the demo use it as the embedded default cluster; it is never a production target.
"""

from flux_devkit.sandbox.cluster import Sandbox
from flux_devkit.sandbox.kubelet.settings import WorkloadSettings
from flux_devkit.sandbox.simulator import SimulatorSettings
from flux_devkit.sandbox.status import SandboxError

__all__ = ["Sandbox", "SandboxError", "SimulatorSettings", "WorkloadSettings"]
