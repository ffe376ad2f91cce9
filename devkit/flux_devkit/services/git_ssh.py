"""Git over SSH: the real OpenSSH ``sshd`` on a loopback port, serving bare repositories by path.

The server runs as the current user with a host key and an authorized key generated here,
so ``ssh://<user>@127.0.0.1:<port>/<root>/<repo>.git`` reaches the same repositories a
:class:`~flux_devkit.services.git_http.GitServer` serves over HTTP when both share a root.
Clients verify the server against :attr:`GitSSHServer.known_hosts` and log in with
:attr:`GitSSHServer.client_key` (optionally passphrase-protected).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from flux_devkit.services.process import LOOPBACK, ServiceError, ServiceProcess, free_ports

_SBIN = "/usr/sbin:/usr/local/sbin"


def _keygen(path: Path, passphrase: str = "") -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "flux-dev", "-f", str(path)],
        check=True,
        capture_output=True,
    )


class GitSSHServer:
    """``sshd`` serving the repositories under ``root``; stop it with :meth:`stop`."""

    def __init__(self, root: Path, workdir: Path, *, key_passphrase: str = "") -> None:
        binary = shutil.which("sshd", path=f"{_SBIN}:{os.environ.get('PATH', '')}")
        if binary is None:
            raise ServiceError(
                "the sshd binary is missing; run scripts/setup.sh (apt-get install openssh-server)",
                obj="service/git-ssh",
            )
        self.root = root
        self.user = getpass.getuser()
        workdir.mkdir(parents=True, exist_ok=True)
        _keygen(workdir / "host_key")
        _keygen(workdir / "client_key", key_passphrase)
        self.client_key = (workdir / "client_key").read_text()
        self.key_passphrase = key_passphrase
        authorized = workdir / "authorized_keys"
        authorized.write_text((workdir / "client_key.pub").read_text())
        authorized.chmod(0o600)
        (self.port,) = free_ports(1)
        host_key = (workdir / "host_key.pub").read_text().split()
        self.known_hosts = f"[{LOOPBACK}]:{self.port} {host_key[0]} {host_key[1]}\n"
        config = workdir / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"ListenAddress {LOOPBACK}:{self.port}",
                    f"HostKey {workdir / 'host_key'}",
                    f"AuthorizedKeysFile {authorized}",
                    f"AllowUsers {self.user}",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",  # the tests may run as root in a container
                    "UsePAM no",
                    "StrictModes no",
                    "PidFile none",
                    "LogLevel VERBOSE",
                ]
            )
            + "\n"
        )
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation folder
        self.process = ServiceProcess(
            "git-ssh", [binary, "-D", "-e", "-f", str(config)], workdir / "sshd.log"
        )
        self.log_path = self.process.log_path
        self._wait_listening()

    def _wait_listening(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.running():
                raise self.process.fail(f"sshd exited with code {self.process.popen.returncode}")
            try:
                with socket.create_connection((LOOPBACK, self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise self.process.fail(f"sshd not listening on port {self.port} after {timeout:.0f} s")

    def url(self, name: str) -> str:
        """The ssh:// URL of the bare repository ``<root>/<name>.git``."""
        repo = name if name.endswith(".git") else f"{name}.git"
        return f"ssh://{self.user}@{LOOPBACK}:{self.port}{self.root / repo}"

    def stop(self) -> None:
        self.process.stop()


def start_git_ssh_server(root: Path, workdir: Path, *, key_passphrase: str = "") -> GitSSHServer:
    """Serve the bare repositories under ``root`` over SSH on a free loopback port."""
    return GitSSHServer(root, workdir, key_passphrase=key_passphrase)
