"""Provider metadata read by Airflow's ProvidersManager through the entry point."""

from __future__ import annotations

from typing import Any

from airflow_flux_provider import __version__

_HOOKS = "airflow_flux_provider.hooks.connections"


def _text(label: str, *, secret: bool = False, multiline: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": ["string", "null"]}
    if secret:
        schema["format"] = "password"
    elif multiline:
        schema["format"] = "multiline"
    return {"label": label, "schema": schema}


def _flag(label: str) -> dict[str, Any]:
    return {"label": label, "schema": {"type": ["boolean", "null"], "default": False}}


_CONNECTION_TYPES: list[dict[str, Any]] = [
    {
        "connection-type": "flux_git",
        "hook-class-name": f"{_HOOKS}.GitCredentialsHook",
        "hook-name": "Flux Git repository",
        "conn-fields": {
            "token": _text("Access token (instead of password)", secret=True),
            "ssh_private_key": _text("SSH private key (PEM)", secret=True),
            "ssh_passphrase": _text("SSH key passphrase", secret=True),
            "known_hosts": _text("known_hosts entries", multiline=True),
            "ca_cert": _text("CA certificate (PEM)", multiline=True),
            "insecure": _flag("Skip TLS verification"),
        },
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "extra"],
            "relabeling": {"host": "Repository URL", "login": "Username", "password": "Password"},
        },
    },
    {
        "connection-type": "flux_registry",
        "hook-class-name": f"{_HOOKS}.RegistryCredentialsHook",
        "hook-name": "Flux OCI registry",
        "conn-fields": {
            "token": _text("Bearer token (instead of username/password)", secret=True),
            "ca_cert": _text("CA certificate (PEM)", multiline=True),
            "client_cert": _text("Client certificate (PEM)", multiline=True),
            "client_key": _text("Client key (PEM)", secret=True),
            "insecure": _flag("Plain HTTP / skip TLS verification"),
        },
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "extra"],
            "relabeling": {"host": "Registry host", "login": "Username", "password": "Password"},
        },
    },
    {
        "connection-type": "flux_helm",
        "hook-class-name": f"{_HOOKS}.HelmRepositoryCredentialsHook",
        "hook-name": "Flux Helm repository",
        "conn-fields": {
            "ca_cert": _text("CA certificate (PEM)", multiline=True),
            "client_cert": _text("Client certificate (PEM)", multiline=True),
            "client_key": _text("Client key (PEM)", secret=True),
            "insecure": _flag("Skip TLS verification"),
        },
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "extra"],
            "relabeling": {"host": "Repository URL", "login": "Username", "password": "Password"},
        },
    },
    {
        "connection-type": "flux_bucket",
        "hook-class-name": f"{_HOOKS}.BucketCredentialsHook",
        "hook-name": "Flux S3 bucket",
        "conn-fields": {
            "token": _text("Session token", secret=True),
            "ca_cert": _text("CA certificate (PEM)", multiline=True),
            "insecure": _flag("Plain HTTP endpoint"),
        },
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "extra"],
            "relabeling": {"host": "Endpoint", "login": "Access key id", "password": "Secret access key"},
        },
    },
    {
        "connection-type": "flux_notification",
        "hook-class-name": f"{_HOOKS}.NotificationCredentialsHook",
        "hook-name": "Flux notification provider",
        "conn-fields": {
            "token": _text("Token (Slack bot token, PagerDuty routing key)", secret=True),
            "ca_cert": _text("CA certificate (PEM)", multiline=True),
            "insecure": _flag("Skip TLS verification"),
        },
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "extra"],
            "relabeling": {"host": "Address (webhook URL)", "login": "Username", "password": "HMAC key"},
        },
    },
]


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-flux-provider",
        "name": "Flux GitOps",
        "description": "FluxCD-style GitOps delivery and Flagger-style canary analysis for Airflow 3.",
        "versions": [__version__],
        "connection-types": _CONNECTION_TYPES,
        "hooks": [
            {"integration-name": "Flux GitOps", "python-modules": [_HOOKS]},
        ],
        "config": {
            "flux": {
                "description": "Settings of the airflow-flux-provider.",
                "options": {
                    name: {
                        "description": f"Path of the {name.split('_')[0]} binary; empty means the "
                        "project-installed one, then PATH.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": f"/usr/local/bin/{name.split('_')[0]}",
                        "default": "",
                    }
                    for name in ("kubectl_path", "helm_path", "git_path")
                },
            }
        },
    }
