"""What the sandbox's kubelet may run, where it keeps images, and which host tools it lends.

Running workloads is opt-in (``serve --run-workloads``): a Pod runs for real only when
every one of its images comes from an allowed registry; any other Pod stays simulated and
says so. Containers are host processes, so the allow-list is the line between "content
someone pushed to our registry" and "anything a manifest names".
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path

from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.oci.reference import ImageReference

DEFAULT_BACKOFF_SECONDS = 10.0  # the kubelet's first restart back-off (doubling up to five minutes)
MAX_BACKOFF_SECONDS = 300.0


def default_tools() -> tuple[tuple[str, str], ...]:
    """Host programs an image may call by name: the sandbox's own Python (with its packages) and ``hey``."""
    tools = [("python3", sys.executable), ("python", sys.executable)]
    hey = shutil.which("hey")
    if hey:
        tools.append(("hey", hey))
    return tuple(tools)


@dataclass(frozen=True)
class WorkloadSettings:
    """``allowed_registries`` are ``host[:port]`` as image references name them."""

    allowed_registries: tuple[str, ...]
    registry_config: Path | None = None  # a Docker config.json: the node's pull credentials
    backoff_seconds: float = DEFAULT_BACKOFF_SECONDS
    mesh_port: int = 0  # the gateway's port on 127.0.0.1 (0: any free port)
    tools: tuple[tuple[str, str], ...] = field(default_factory=default_tools)

    def allows(self, image: str) -> bool:
        """Whether ``image`` comes from an allowed registry (an unparsable reference never does)."""
        try:
            registry = ImageReference.parse(image).registry
        except FluxError:
            return False
        return registry in self.allowed_registries

    @staticmethod
    def plain_http(registry: str) -> bool:
        """Registries on the loopback network speak plain HTTP, as Docker treats 127.0.0.0/8 as insecure."""
        host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
        if host == "localhost":
            return True
        try:
            return ip_address(host.strip("[]")).is_loopback
        except ValueError:
            return False

    def argv(self) -> list[str]:
        """The ``serve`` flags that recreate these settings in a child process."""
        argv = [
            "--run-workloads",
            f"--backoff-seconds={self.backoff_seconds:g}",
            f"--mesh-port={self.mesh_port}",
        ]
        argv += [f"--allow-registry={registry}" for registry in self.allowed_registries]
        if self.registry_config is not None:
            argv.append(f"--registry-config={self.registry_config}")
        argv += [f"--lend-tool={name}={path}" for name, path in self.tools]
        return argv
