"""JSON POST with Flux's retry policy, a proxy and an overall timeout.

Flux retries a webhook up to four times (waits 2 s doubling to 30 s) on connection
errors, 429 and 5xx, all bounded by the provider's timeout; any other non-2xx answer is
final. The error quotes the status and the start of the answer, scrubbed of secrets.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from airflow_flux_provider.credentials import Credentials, ca_bundle, redact_url
from airflow_flux_provider.notifications.errors import NotificationError

RETRIES = 4
_MIN_WAIT, _MAX_WAIT = 2.0, 30.0


@dataclass(frozen=True)
class Transport:
    """How a provider reaches its service; ``secrets`` (tokens, webhook URLs) are cut from errors."""

    timeout: float = 15.0
    proxy: str | None = None
    ca_cert: str | None = None
    insecure: bool = False
    retries: int = RETRIES
    secrets: tuple[str, ...] = ()

    def verify(self) -> bool | str:
        """``requests``' ``verify``: False, True, or a file holding the connection's CA (PEM)."""
        if self.insecure or not self.ca_cert:
            return not self.insecure
        return ca_bundle(self.ca_cert)

    def ssl_context(self) -> ssl.SSLContext:
        """The same trust for clients that take an SSL context (slack-sdk)."""
        context = (
            ssl.create_default_context(cadata=self.ca_cert) if self.ca_cert else ssl.create_default_context()
        )
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def scrub(self, text: str) -> str:
        return _scrub(text, self.secrets)


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def secret_parts(url: str) -> tuple[str, ...]:
    """A webhook URL and its path: both are credentials for Slack, Teams and Discord hooks."""
    path = urlsplit(url).path
    return (url, path) if len(path) > 1 else (url,)


def encode(body: Any) -> bytes:
    """Compact JSON as Go's encoder writes it (no spaces, UTF-8, ``<>&`` left as they are)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def post_json(
    url: str,
    body: bytes,
    transport: Transport,
    *,
    obj: str,
    headers: Mapping[str, str] | None = None,
) -> requests.Response:
    """POST ``body`` (already-encoded JSON) to ``url``; raise :class:`NotificationError` unless 2xx."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    proxies = {"http": transport.proxy, "https": transport.proxy} if transport.proxy else None
    deadline = time.monotonic() + transport.timeout
    verify = transport.verify()
    problem = ""
    for attempt in range(transport.retries + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            response = requests.post(
                url, data=body, headers=all_headers, proxies=proxies, timeout=remaining, verify=verify
            )
        except requests.RequestException as err:
            problem = f"request failed: {type(err).__name__}: {err}"
        else:
            if 200 <= response.status_code < 300:
                return response
            problem = f"request failed with status code {response.status_code}: {response.text[:300]}"
            if response.status_code != 429 and response.status_code < 500:
                break
        wait = min(_MIN_WAIT * 2**attempt, _MAX_WAIT)
        if attempt == transport.retries or time.monotonic() + wait >= deadline:
            break
        time.sleep(wait)
    raise NotificationError(
        transport.scrub(problem or f"no answer within the {transport.timeout:g} s timeout")
        + "; check the provider address, token and timeout",
        obj=obj,
    )


def reachable(url: str, credentials: Credentials, *, obj: str, timeout: float = 15.0) -> int:
    """The status ``url`` answers a bodiless GET with (a connection check: nothing is posted).

    Webhook endpoints often answer a GET with 4xx; any answer proves the address and TLS work.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise NotificationError(f"address {redact_url(url, keep_path=False)} must be an http(s) URL", obj=obj)
    transport = Transport(
        timeout=timeout,
        ca_cert=credentials.ca_cert,
        insecure=credentials.insecure,
        secrets=(*secret_parts(url), *credentials.secrets()),
    )
    try:
        response = requests.get(
            url, timeout=timeout, verify=transport.verify(), allow_redirects=False, stream=True
        )
    except requests.RequestException as err:
        raise NotificationError(
            transport.scrub(
                f"cannot reach {redact_url(url, keep_path=False)} ({type(err).__name__}); check the "
                "address, the network and ca_cert"
            ),
            obj=obj,
        ) from None
    response.close()
    return response.status_code
