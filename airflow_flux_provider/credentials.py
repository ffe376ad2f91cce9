"""Credentials as the capability packages receive them, whatever they were stored in.

Flux reads these from the Secret named by ``secretRef``; here they come from an Airflow
connection (see :mod:`airflow_flux_provider.hooks.connections`). ``repr`` never shows a
secret value, so a credential that ends up in a log line or exception stays harmless.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


def _hidden(value: str | None) -> str:
    return "None" if value is None else "'***'"


@dataclass(frozen=True)
class Credentials:
    """Everything a source, registry or provider may need; unused fields stay ``None``."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    ssh_private_key: str | None = field(default=None, repr=False)
    ssh_passphrase: str | None = field(default=None, repr=False)
    known_hosts: str | None = None
    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = field(default=None, repr=False)
    insecure: bool = False
    extra: dict[str, str] = field(default_factory=dict, repr=False)

    def secrets(self) -> list[str]:
        """The values that must be scrubbed from any text we log or raise."""
        values = [self.password, self.token, self.ssh_private_key, self.ssh_passphrase, self.client_key]
        return [v for v in values if v]

    def scrub(self, text: str) -> str:
        """Replace every secret value in ``text`` (e.g. a tool's stderr) with ``***``."""
        for secret in sorted(self.secrets(), key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        if self.username is None and self.password is None:
            return None
        return (self.username or "", self.password or self.token or "")


ANONYMOUS = Credentials()


def ca_bundle(pem: str) -> str:
    """A file holding ``pem`` for clients that only take a CA path (boto3, s3fs, requests).

    The file is named by its content and kept for the life of the machine: a CA certificate
    is public, and clients such as s3fs open it lazily, long after the caller returned.
    """
    folder = Path(tempfile.gettempdir()) / f"airflow-flux-ca-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"{hashlib.sha256(pem.encode()).hexdigest()[:32]}.pem"
    if not path.exists():
        staging = path.with_suffix(f".{os.getpid()}.tmp")
        staging.write_text(pem)
        staging.replace(path)
    return str(path)
