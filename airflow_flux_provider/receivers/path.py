"""The secret URL path of a Receiver, derived exactly as Flux derives it.

``/hook/`` + hex(sha256(token + name + namespace)): knowing the path means knowing the
token, so for ``generic`` receivers the path is the only credential.
"""

from __future__ import annotations

import hashlib

PREFIX = "/hook/"


def webhook_digest(token: str, name: str, namespace: str) -> str:
    return hashlib.sha256(f"{token}{name}{namespace}".encode()).hexdigest()


def webhook_path(token: str, name: str, namespace: str) -> str:
    """``/hook/<sha256 hex>``, what Flux publishes in ``.status.webhookPath``."""
    return PREFIX + webhook_digest(token, name, namespace)
