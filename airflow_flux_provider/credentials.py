"""Credentials as the capability packages receive them, whatever they were stored in.

Flux reads these from the Secret named by ``secretRef``; here they come from an Airflow
connection (see :mod:`airflow_flux_provider.hooks.connections`). ``repr`` never shows a
secret value, so a credential that ends up in a log line or exception stays harmless.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import stat
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import re2

log = logging.getLogger(__name__)


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


class SecretLookup(Protocol):
    """Reads what a Flux object's ``secretRef`` names (in Airflow: the connection of that id).

    A name that resolves to nothing is an error naming ``obj`` and ``field``, never ``None``.
    """

    def __call__(self, name: str, *, obj: str, field: str) -> Credentials: ...


def _private_folder(folder: Path) -> bool:
    """Whether ``folder`` is a real folder (not a link) that only this user can enter."""
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and st.st_mode & 0o077 == 0


@functools.cache
def private_folder(purpose: str) -> Path:
    """``<tmp>/airflow-flux-<purpose>-<uid>``, created 0700 and shared by this user's processes
    (CA bundles, helm's discovery cache); if someone else planted that name (another owner, wider
    mode, a link), a fresh private folder for this process instead."""
    folder = Path(tempfile.gettempdir()) / f"airflow-flux-{purpose}-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder, 0o700)
    if _private_folder(folder):
        return folder
    log.warning("%s is not a private folder of this user; using a fresh one", folder)
    return Path(tempfile.mkdtemp(prefix=f"airflow-flux-{purpose}-"))


def ca_bundle(pem: str) -> str:
    """A file holding ``pem`` for clients that only take a CA path (boto3, s3fs, requests, git).

    Files are named by their content in a folder only this user can write (checked, see
    :func:`private_folder`), written under a unique name opened with ``O_EXCL`` and renamed into
    place; an existing file is used only if it holds exactly ``pem``. They are kept for the
    life of the machine: a CA certificate is public, and clients such as s3fs open the file
    lazily, long after the caller returned.
    """
    folder = private_folder("ca")
    path = folder / f"{hashlib.sha256(pem.encode()).hexdigest()}.pem"
    with contextlib.suppress(OSError):
        if path.read_text() == pem:
            return str(path)
    staging = folder / f".{uuid.uuid4().hex}.tmp"
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(pem)
    os.replace(staging, path)
    return str(path)


# -- URLs in messages ---------------------------------------------------------------------------


def _linear(pattern: str) -> Any:
    """RE2, not ``re``: every error message passes through these, and a message can quote a
    hostile value ("a:a:a:…" took ``re`` 8 s at 40 KB). Compiled here rather than through
    :mod:`airflow_flux_provider.patterns`, which needs :mod:`airflow_flux_provider.errors`, which
    needs this module."""
    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)


_URL = _linear(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>}]*")
_USER_AND_PASSWORD = _linear(r"[^\s/@:'\"]+:[^\s/@'\"]+@")
#: Query parameters that carry a credential wherever they appear (even in a bare path).
_SECRET_PARAM = _linear(
    r"(?i)([?&;](?:sig|signature|token|access_token|id_token|refresh_token|code|key|api_key|apikey"
    r"|password|passwd|secret|client_secret|auth|x-amz-signature|x-amz-credential|x-amz-security-token"
    r"|x-goog-signature|x-goog-credential|sv|se|sp|st)=)[^&;\s'\"#]*"
)
#: A fragment of letter-only words is a document anchor (``#message-template``); tokens carry
#: digits or ``=`` (an OAuth implicit grant answers ``#access_token=…``).
_ANCHOR = _linear(r"[A-Za-z]{1,32}(?:[-_.][A-Za-z]{1,32}){0,7}")


def redact_url(url: str, *, keep_path: bool = True) -> str:
    """``url`` without the parts that may carry a credential.

    Userinfo goes (an ssh user name such as ``git@`` stays: it is no secret; over HTTP a lone
    user name often is a token), every query value goes (signed URLs put their signature there)
    and so does a fragment unless it reads as a document anchor. ``keep_path=False`` keeps only
    scheme, host and port (``…`` marks what was cut), for values whose path may be the secret
    (Slack, Teams and Discord webhooks).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return f"{url.split('://', 1)[0]}://…"
    keep_user = parts.scheme == "ssh" and parts.username and parts.password is None
    cut_user = "@" in parts.netloc and not keep_user
    user = f"{parts.username}@" if keep_user else ""
    where = f"{parts.scheme}://{user}{f'[{host}]' if ':' in host else host}{port}"
    if not keep_path:
        cut = parts.path.strip("/") or parts.query or parts.fragment or cut_user
        return f"{where}/…" if cut else where
    if cut_user:
        where = where.replace("://", "://***@", 1)
    pairs = (p.partition("=") for p in parts.query.split("&"))
    query = "&".join(f"{name}=***" if sep else name for name, sep, _ in pairs)
    fragment = parts.fragment if _ANCHOR.fullmatch(parts.fragment) else "***"
    return (
        f"{where}{parts.path}"
        + (f"?{query}" if parts.query else "")
        + (f"#{fragment}" if parts.fragment else "")
    )


def redact_urls(text: str, *, keep_path: bool = True) -> str:
    """``text`` with each URL in it through :func:`redact_url`, scp-style ``user:password@``
    cut, and credential query parameters blanked where they appear without a scheme (an HTTP
    library's "url: /hook?sig=…")."""

    def one(match: Any) -> str:
        url = match.group(0).rstrip(".,;:)")  # sentence punctuation after a URL is not part of it
        return redact_url(url, keep_path=keep_path) + match.group(0)[len(url) :]

    text = _URL.sub(one, text)
    return _SECRET_PARAM.sub(r"\1***", _USER_AND_PASSWORD.sub("***@", text))
