"""Addresses for Pods and Services, handed out from a network as the cluster's IPAM would.

With workloads running, both networks lie in 127.0.0.0/8, which Linux routes to the
loopback interface as a whole: every Pod and every Service gets an address of its own
that processes can bind and connect to without any setup.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, ip_address, ip_network

from flux_devkit.sandbox.status import SandboxError

POD_NETWORK = "127.1.0.0/16"
SERVICE_NETWORK = "10.96.0.0/12"  # the API server's default; with workloads running: LOOPBACK_SERVICES
LOOPBACK_SERVICES = "127.96.0.0/16"


class AddressPool:
    """Hands out the lowest free host address of ``network``; ``used`` says what is taken."""

    def __init__(self, network: str) -> None:
        parsed = ip_network(network)
        if not isinstance(parsed, IPv4Network):
            raise SandboxError(f"network {network} is not IPv4", obj="sandbox/network")
        self.network = parsed
        self._lock = threading.Lock()
        self._reserved: set[IPv4Address] = set()

    def __contains__(self, address: str) -> bool:
        try:
            return ip_address(address) in self.network
        except ValueError:
            return False

    def allocate(self, used: Iterable[str]) -> str:
        """A free address, reserved until :meth:`release` (``used``: addresses objects already hold)."""
        taken = {ip_address(a) for a in used if a in self}
        with self._lock:
            for address in self.network.hosts():
                if address not in taken and address not in self._reserved:
                    self._reserved.add(address)
                    return str(address)
        raise SandboxError(f"no free address left in {self.network}", obj="sandbox/network")

    def release(self, address: str) -> None:
        with self._lock:
            self._reserved.discard(IPv4Address(address))
