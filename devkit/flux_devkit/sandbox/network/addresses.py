"""Addresses for Pods and Services, handed out from a network as the cluster's IPAM would.

With workloads running, both networks lie in 127.0.0.0/8, which Linux routes to the
loopback interface as a whole: every Pod and every Service gets an address of its own
that processes can bind and connect to without any setup.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network, ip_address, ip_network

from flux_devkit.sandbox.status import SandboxError

POD_NETWORK = "127.1.0.0/16"
SERVICE_NETWORK = "10.96.0.0/12"  # the API server's default; with workloads running: LOOPBACK_SERVICES
LOOPBACK_SERVICES = "127.96.0.0/16"


class AddressPool:
    """Hands out the host addresses of ``network`` in turn, skipping those objects hold."""

    def __init__(self, network: str) -> None:
        parsed = ip_network(network)
        if not isinstance(parsed, IPv4Network):
            raise SandboxError(f"network {network} is not IPv4", obj="sandbox/network")
        self.network = parsed
        self._lock = threading.Lock()
        self._reserved: set[IPv4Address] = set()
        self._first = int(parsed.network_address) + 1  # the hosts: neither network nor broadcast address
        self._size = max(parsed.num_addresses - 2, 0)
        # offset from _first of the next address to try; a random start, as the API server picks
        # Service IPs, keeps two sandboxes on one machine (one loopback) off each other's addresses
        self._next = random.randrange(self._size) if self._size else 0

    def __contains__(self, address: str) -> bool:
        try:
            return ip_address(address) in self.network
        except ValueError:
            return False

    def allocate(self, held: Callable[[str], bool]) -> str:
        """A free address, reserved until :meth:`release` (``held``: whether an object holds it).

        The search starts after the last address handed out and wraps round, as a ring: each
        address costs a few lookups instead of a scan of every address in use.
        """
        with self._lock:
            for step in range(self._size):
                offset = (self._next + step) % self._size
                address = IPv4Address(self._first + offset)
                if address not in self._reserved and not held(str(address)):
                    self._reserved.add(address)
                    self._next = offset + 1
                    return str(address)
        raise SandboxError(f"no free address left in {self.network}", obj="sandbox/network")

    def release(self, address: str) -> None:
        with self._lock:
            self._reserved.discard(IPv4Address(address))
