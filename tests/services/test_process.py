"""Service processes: a failed start names the cause from the log; stop() leaves no child behind."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from flux_devkit.services.process import ServiceError, ServiceProcess, free_ports


def test_early_exit_raises_with_the_log_tail(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import sys; print('bad config: port in use'); sys.exit(3)"]
    service = ServiceProcess("broken", argv, tmp_path / "broken.log")
    with pytest.raises(ServiceError) as err:
        service.wait_http("http://127.0.0.1:9/", timeout=30)
    message = str(err.value)
    assert message.startswith("service/broken: exited with code 3")
    assert "bad config: port in use" in message
    assert (tmp_path / "broken.log").is_file()


def test_never_ready_times_out_and_stops_the_process(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    argv = [sys.executable, "-c", "import time; time.sleep(600)"]
    service = ServiceProcess("silent", argv, tmp_path / "silent.log")
    with pytest.raises(ServiceError, match=r"not ready after 1 s"):
        service.wait_http(f"http://127.0.0.1:{port}/", timeout=1)
    assert not service.running()


def test_a_port_handed_out_is_not_handed_out_to_another_process(tmp_path: Path) -> None:
    """Parallel test workers start services at once: a port stays reserved until one binds it."""
    (port,) = free_ports(1)
    claim = f"from flux_devkit.services.process import _claim; print(_claim({port}))"
    other = subprocess.run([sys.executable, "-c", claim], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == "False"


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_stop_kills_the_children_too(tmp_path: Path) -> None:
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    log = tmp_path / "parent.log"
    service = ServiceProcess("parent", [sys.executable, "-c", script], log)
    deadline = time.monotonic() + 60
    while not log.read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(log.read_text().split()[0])
    assert alive(child)

    service.stop()
    service.stop()  # a second stop is harmless
    assert not service.running()
    assert not alive(child)


def test_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="could not start /nonexistent/registry"):
        ServiceProcess("registry", ["/nonexistent/registry", "serve"], tmp_path / "r.log")


def test_free_ports_are_distinct() -> None:
    ports = free_ports(20)
    assert len(set(ports)) == 20
