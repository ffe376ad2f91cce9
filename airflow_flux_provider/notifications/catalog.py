"""Which provider class serves which ``spec.type``, and how a Provider object becomes one.

Flux reads the address, token, extra headers and proxy from the Provider's Secret; here
the Secret is an Airflow connection turned into :class:`Credentials` (password or
``token`` extra = token, ``address``/``headers``/``proxy`` extras; the Airflow layer puts
the connection's host into ``address``). A secret address wins over ``spec.address``.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

import yaml

from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.notifications.discord import DiscordProvider
from airflow_flux_provider.notifications.errors import NotificationError
from airflow_flux_provider.notifications.generic import GenericHmacProvider, GenericProvider
from airflow_flux_provider.notifications.http import Transport, secret_parts
from airflow_flux_provider.notifications.msteams import MSTeamsProvider
from airflow_flux_provider.notifications.pagerduty import PagerDutyProvider
from airflow_flux_provider.notifications.provider import NotificationProvider, ProviderSettings
from airflow_flux_provider.notifications.slack import SlackProvider
from airflow_flux_provider.specs import Provider

PROVIDER_TYPES: dict[str, type[NotificationProvider]] = {
    cls.type: cls
    for cls in (
        SlackProvider,
        DiscordProvider,
        MSTeamsProvider,
        GenericProvider,
        GenericHmacProvider,
        PagerDutyProvider,
    )
}


def build_provider(provider_type: str, settings: ProviderSettings) -> NotificationProvider:
    """The provider for ``provider_type``; a type we do not implement is a clear error."""
    try:
        cls = PROVIDER_TYPES[provider_type]
    except KeyError:
        raise NotificationError(
            f"provider type {provider_type!r} is not supported here; "
            f"use one of {', '.join(sorted(PROVIDER_TYPES))}",
            obj=settings.ref,
            field="spec.type",
        ) from None
    return cls(settings)


def parse_headers(raw: str | None, *, obj: str) -> dict[str, str]:
    """The Secret's ``headers`` key: a YAML (or JSON) map of extra HTTP headers."""
    if not raw:
        return {}
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = None
    if not isinstance(value, dict):
        raise NotificationError(
            "the headers extra must be a YAML or JSON map of header name to value",
            obj=obj,
            field="secretRef headers",
        )
    return {str(k): str(v) for k, v in value.items()}


def proxy_url(proxy: Credentials | None, fallback: str | None) -> str | None:
    """The proxy from ``proxySecretRef`` (``address`` + optional user/password), else the spec's."""
    if proxy is None or not proxy.extra.get("address"):
        return fallback
    parts = urlsplit(proxy.extra["address"])
    if proxy.username or proxy.password:
        user = quote(proxy.username or "", safe="") + ":" + quote(proxy.password or "", safe="")
        parts = parts._replace(netloc=f"{user}@{parts.hostname}" + (f":{parts.port}" if parts.port else ""))
    return urlunsplit(parts)


def provider_from_spec(
    provider: Provider,
    credentials: Credentials | None = None,
    *,
    proxy: Credentials | None = None,
    retries: int | None = None,
) -> NotificationProvider:
    """Build the provider a ``Provider`` manifest describes, with its Secret's ``credentials``."""
    spec, ref = provider.spec, provider.ref
    if spec.suspend:
        raise NotificationError(
            "the provider is suspended; set spec.suspend: false", obj=ref, field="spec.suspend"
        )
    creds = credentials or Credentials()
    secret_address = creds.extra.get("address") or ""
    address = secret_address or spec.address or ""
    token = creds.token or creds.password or ""
    proxy_address = proxy_url(proxy, creds.extra.get("proxy") or spec.proxy)
    secrets = [*creds.secrets(), *(secret_parts(secret_address) if secret_address else ())]
    if proxy is not None:
        secrets += proxy.secrets()
    if proxy_address and "@" in proxy_address:
        secrets.append(proxy_address)
    transport = Transport(
        timeout=spec.timeout.total_seconds(),
        proxy=proxy_address,
        ca_cert=creds.ca_cert,
        insecure=creds.insecure,
        secrets=tuple(secrets),
        **({} if retries is None else {"retries": retries}),
    )
    settings = ProviderSettings(
        ref=ref,
        address=address,
        channel=spec.channel or "",
        username=spec.username or "",
        token=token,
        headers=parse_headers(creds.extra.get("headers"), obj=ref),
        transport=transport,
    )
    return build_provider(spec.type, settings)
