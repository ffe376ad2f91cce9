"""Readiness, liveness and startup probes: one check (httpGet, tcpSocket, exec) and its thresholds.

A check passes as the kubelet's does: an HTTP status from 200 to 399, a TCP connection
accepted, a command that exits 0, each within ``timeoutSeconds``. :class:`ProbeState`
turns results into a verdict with ``successThreshold``/``failureThreshold`` consecutive
results; readiness starts failed, liveness healthy, startup not started.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flux_devkit.sandbox.kubelet.environment import Launch

MAX_BODY = 10 * 1024
Launcher = Callable[[list[str]], Launch]  # a probe's command, resolved as the container's would be


def _port(value: Any, ports: list[dict[str, Any]]) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    for port in ports:
        if port.get("name") == value:
            return int(port.get("containerPort", 0))
    raise ValueError(f"port {value!r} is not a number and names no container port")


def check(
    spec: dict[str, Any], pod_ip: str, ports: list[dict[str, Any]], launcher: Launcher
) -> tuple[bool, str]:
    """Run one probe; ``(passed, why not)``."""
    timeout = float(spec.get("timeoutSeconds") or 1)
    try:
        if "httpGet" in spec:
            return _http(spec["httpGet"], pod_ip, ports, timeout)
        if "tcpSocket" in spec:
            target = spec["tcpSocket"]
            host, port = target.get("host") or pod_ip, _port(target.get("port"), ports)
            with socket.create_connection((host, port), timeout=timeout):
                return True, ""
        if "exec" in spec:
            return _exec(spec["exec"].get("command") or [], launcher, timeout)
    except (OSError, ValueError) as err:
        return False, str(err)
    return (
        False,
        "the probe has no httpGet, tcpSocket or exec handler the sandbox runs (grpc is not supported)",
    )


def _http(
    target: dict[str, Any], pod_ip: str, ports: list[dict[str, Any]], timeout: float
) -> tuple[bool, str]:
    host, port = target.get("host") or pod_ip, _port(target.get("port"), ports)
    path = target.get("path") or "/"
    scheme = (target.get("scheme") or "HTTP").upper()
    connection: http.client.HTTPConnection
    if scheme == "HTTPS":  # the kubelet does not verify the certificate either
        connection = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=ssl._create_unverified_context()
        )
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {"User-Agent": "kube-probe/1.33", "Accept": "*/*"}
    headers.update({h.get("name", ""): h.get("value", "") for h in target.get("httpHeaders") or []})
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read(MAX_BODY)
    finally:
        connection.close()
    if 200 <= response.status < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {response.status}"


def _exec(command: list[str], launcher: Launcher, timeout: float) -> tuple[bool, str]:
    launch = launcher([str(c) for c in command])
    try:
        done = subprocess.run(
            launch.argv,
            env=launch.env,
            cwd=launch.cwd,
            capture_output=True,
            timeout=timeout,
            check=False,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        return False, f"command timed out after {timeout:g}s"
    if done.returncode == 0:
        return True, ""
    output = (done.stdout + done.stderr)[-300:].decode(errors="replace").strip()
    return False, f"command exited with {done.returncode}: {output}"


@dataclass
class ProbeState:
    """One probe of one container run: when it is due next and what its results amount to."""

    kind: str  # readiness | liveness | startup
    spec: dict[str, Any]
    started: float
    successes: int = 0
    failures: int = 0
    passing: bool = False
    running: bool = False  # a check is in flight
    message: str = ""
    due: float = field(init=False)

    def __post_init__(self) -> None:
        self.passing = self.kind == "liveness"
        self.due = self.started + float(self.spec.get("initialDelaySeconds") or 0)

    @property
    def period(self) -> float:
        return float(self.spec.get("periodSeconds") or 10)

    def record(self, passed: bool, message: str) -> None:
        """Fold one result in; ``passing`` flips after the threshold of consecutive results."""
        self.running = False
        self.due = time.monotonic() + self.period
        if passed:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= int(self.spec.get("successThreshold") or 1):
                self.passing = True
        else:
            self.successes, self.failures = 0, self.failures + 1
            self.message = message
            if self.failures >= int(self.spec.get("failureThreshold") or 3):
                self.passing = False

    @property
    def gave_up(self) -> bool:
        """Liveness or startup failed often enough that the container must restart."""
        return (
            self.kind in ("liveness", "startup")
            and self.failures >= int(self.spec.get("failureThreshold") or 3)
            and not (self.kind == "startup" and self.passing)
        )
