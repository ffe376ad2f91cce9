"""Provider metadata read by Airflow's ProvidersManager through the entry point."""

from __future__ import annotations

from typing import Any

from airflow_flux_provider import __version__

_HOOKS = "airflow_flux_provider.hooks.connections"


def _text(label: str, *, secret: bool = False, multiline: bool = False) -> dict[str, Any]:
    """A text field. A one-line secret is a masked input; a multi-line one (a PEM key) is a text
    area, kept out of the UI and the API by its name: Airflow hides extras whose names say
    ``private_key`` (a form field cannot be both masked and multi-line)."""
    schema: dict[str, Any] = {"type": ["string", "null"]}
    if multiline:
        schema["format"] = "multiline"
    elif secret:
        schema["format"] = "password"
    return {"label": label, "schema": schema}


def _pem_key(label: str) -> dict[str, Any]:
    return _text(label, multiline=True)


def _flag(label: str) -> dict[str, Any]:
    return {"label": label, "schema": {"type": ["boolean", "null"], "default": False}}


_CONNECTION_TYPES: list[dict[str, Any]] = [
    {
        "connection-type": "flux_git",
        "hook-class-name": f"{_HOOKS}.GitCredentialsHook",
        "hook-name": "Flux Git repository",
        "conn-fields": {
            "token": _text("Access token (instead of password)", secret=True),
            "ssh_private_key": _pem_key("SSH private key (PEM or OpenSSH, several lines)"),
            "ssh_passphrase": _text("SSH key passphrase", secret=True),
            "known_hosts": _text("known_hosts entries", multiline=True),
            "ca_cert": _text("CA certificate (PEM)", multiline=True),
            "client_cert": _text("TLS client certificate (PEM)", multiline=True),
            "client_private_key": _pem_key("TLS client key (PEM)"),
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
            "client_private_key": _pem_key("Client key (PEM)"),
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
            "client_private_key": _pem_key("Client key (PEM)"),
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
            "region": _text("Region (used by an s3:// artifact store; Bucket specs carry their own)"),
            "ca_cert": _text("CA certificate (PEM)", multiline=True),
            "insecure": _flag("Plain HTTP endpoint"),
        },
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "extra"],
            "relabeling": {"host": "Endpoint", "login": "Access key id", "password": "Secret access key"},
        },
    },
    {
        "connection-type": "flux_mlflow",
        "hook-class-name": "airflow_flux_provider.hooks.mlflow.MlflowTrackingHook",
        "hook-name": "MLflow tracking server",
        "conn-fields": {"token": _text("Bearer token (instead of username/password)", secret=True)},
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "extra"],
            "relabeling": {"host": "Tracking URI", "login": "Username", "password": "Password"},
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


_INTEGRATION = "Flux GitOps"


def _modules(*names: str) -> list[dict[str, Any]]:
    return [
        {"integration-name": _INTEGRATION, "python-modules": [f"airflow_flux_provider.{n}" for n in names]}
    ]


def _option(description: str, default: str = "", example: str | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "version_added": "0.1.0",
        "type": "string",
        "example": example,
        "default": default,
    }


_CONFIG_OPTIONS: dict[str, dict[str, Any]] = {
    **{
        f"{tool}_path": _option(
            f"Path of the {tool} binary; empty means the project-installed one, then PATH.",
            example=f"/usr/local/bin/{tool}",
        )
        for tool in ("kubectl", "helm", "git")
    },
    "artifacts_path": _option(
        "Folder for artifacts (tag lists, rendered manifests); empty: $AIRFLOW_HOME/flux."
    ),
    "artifacts_url": _option(
        "Where source artifacts are stored; an fsspec URL shared by all workers (s3://bucket/prefix). "
        "Empty: artifacts_path.",
        example="s3://flux-artifacts/airflow",
    ),
    "artifacts_conn_id": _option(
        "flux_bucket connection for an s3:// artifacts_url (endpoint, keys, region in extra, CA). "
        "Empty: the worker's AWS credential chain.",
    ),
    "receivers_path": _option(
        "Folder of Receiver manifests served by the receiver plugin.", example="/opt/flux"
    ),
    "receiver_max_body_bytes": _option("Largest webhook body a receiver accepts.", default="1048576"),
    "receiver_dedupe_window_seconds": _option(
        "How long a receiver remembers delivery ids (and bodies) to ignore repeats.", default="86400"
    ),
    "receiver_dedupe_bodies": _option(
        "Treat an identical body sent again within the window as a repeat (replay guard).", default="False"
    ),
    "receiver_rate_limit_per_minute": _option(
        "Requests one receiver may act on per minute; more get 429 with Retry-After (0: no limit).",
        default="0",
    ),
    "notifications_path": _option("Folder of Alert and Provider manifests that operator events go to."),
    "notifications_state_path": _option(
        "Folder or URL (s3://…) holding the duplicate-alert windows; default: beside an s3:// "
        "artifacts_url (shared by every worker), else a folder under AIRFLOW_HOME.",
    ),
    "task_events_conn_id": _option("Notification connection that task outcomes are sent to (empty: off)."),
    "task_events_provider": _option("Provider type for task outcomes.", default="generic", example="slack"),
    "task_events_channel": _option("Channel for task outcomes (Slack bot tokens)."),
    "task_events_severity": _option("Which task outcomes to send: error or info.", default="error"),
    "task_events_dags": _option("Comma-separated DAG ids whose task outcomes are sent (empty: all)."),
}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-flux-provider",
        "name": "Flux GitOps",
        "description": "FluxCD-style GitOps delivery and Flagger-style canary analysis for Airflow 3.",
        "versions": [__version__],
        "integrations": [
            {"integration-name": _INTEGRATION, "external-doc-url": "https://fluxcd.io/", "tags": ["software"]}
        ],
        "connection-types": _CONNECTION_TYPES,
        "hooks": _modules("hooks.connections", "hooks.kubernetes", "hooks.mlflow"),
        "operators": _modules(
            "operators.sources",
            "operators.kustomize",
            "operators.reconcile",
            "operators.helm",
            "operators.images",
            "operators.canary",
            "operators.models",
        ),
        "sensors": _modules("sensors.sources", "sensors.images", "sensors.jobs"),
        "triggers": _modules("triggers.health", "triggers.sources", "triggers.images", "triggers.jobs"),
        "notifications": [
            f"airflow_flux_provider.notifiers.{name}"
            for name in (
                "FluxNotifier",
                "SlackNotifier",
                "MSTeamsNotifier",
                "GenericWebhookNotifier",
                "GenericHmacNotifier",
                "PagerDutyNotifier",
                "DiscordNotifier",
            )
        ],
        "extra-links": ["airflow_flux_provider.links.mlflow.MlflowRunLink"],
        "config": {
            "flux": {"description": "Settings of the airflow-flux-provider.", "options": _CONFIG_OPTIONS}
        },
    }
