"""Every ``[flux]`` option of airflow.cfg, read here and nowhere else.

Each option can also be set as the environment variable ``AIRFLOW__FLUX__<OPTION>``. Options are
read when they are used (not at import), so a changed environment or airflow.cfg applies to the
next task without restarting anything.

Each function below reads one option (or one group) and says its default; the README lists
them for users.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from airflow_flux_provider.errors import FluxError

if TYPE_CHECKING:
    from airflow_flux_provider.receivers import GuardSettings

SECTION = "flux"
DEFAULT_RECEIVER_MAX_BODY = 1 << 20


class SettingsError(FluxError):
    """A ``[flux]`` option holds a value that cannot be used."""


def _get(option: str) -> str:
    from airflow.configuration import conf

    return str(conf.get(SECTION, option, fallback="") or "").strip()


def _number(option: str, default: float, *, minimum: float, whole: bool = False) -> float:
    """The option as a number of at least ``minimum`` (``whole``: an integer)."""
    configured = _get(option)
    if not configured:
        return default
    try:
        value: float = int(configured) if whole else float(configured)
    except ValueError:
        value = minimum - 1
    if not minimum <= value < float("inf"):
        kind = "whole number" if whole else "number"
        raise SettingsError(
            f"{configured[:40]!r} is not a {kind} >= {minimum:g}", field=f"[{SECTION}] {option}"
        )
    return value


def _whole(option: str, default: int, *, minimum: int) -> int:
    return int(_number(option, default, minimum=minimum, whole=True))


def _flag(option: str) -> bool:
    configured = _get(option).lower()
    if configured not in ("", "true", "false", "1", "0", "yes", "no"):
        raise SettingsError(f"{configured[:40]!r} is neither true nor false", field=f"[{SECTION}] {option}")
    return configured in ("true", "1", "yes")


def _airflow_home() -> Path:
    from airflow.configuration import AIRFLOW_HOME

    return Path(AIRFLOW_HOME)


def tool_path(name: str) -> str | None:
    """``[flux] <name>_path`` (kubectl, helm, git), or None to use the installed binary."""
    return _get(f"{name}_path") or None


def artifacts_path() -> Path:
    """The local folder for renders, tag lists and (by default) source artifacts."""
    return Path(_get("artifacts_path") or _airflow_home() / "flux" / "artifacts")


def artifacts_url() -> str:
    """Where source artifacts are stored: ``[flux] artifacts_url``, else :func:`artifacts_path`."""
    return _get("artifacts_url") or str(artifacts_path())


def artifacts_conn_id() -> str | None:
    """The ``flux_bucket`` connection of an ``s3://`` artifacts_url; None: the AWS credential chain."""
    return _get("artifacts_conn_id") or None


def receivers_path() -> Path | None:
    """The folder of Receiver manifests the API server serves; None: no receivers."""
    configured = _get("receivers_path")
    return Path(configured) if configured else None


def receiver_max_body_bytes() -> int:
    """The largest webhook body accepted (1 MiB unless set)."""
    return _whole("receiver_max_body_bytes", DEFAULT_RECEIVER_MAX_BODY, minimum=1)


def receiver_guard() -> GuardSettings:
    """Replay and rate limits of the receivers: ``receiver_dedupe_window_seconds`` (how long a
    delivery id is remembered), ``receiver_dedupe_bodies`` (identical bodies in that window count
    as one delivery; false) and ``receiver_rate_limit_per_minute`` (per receiver; 0, the default,
    is no limit)."""
    from airflow_flux_provider.receivers import GuardSettings

    return GuardSettings(
        window_seconds=_number("receiver_dedupe_window_seconds", GuardSettings.window_seconds, minimum=0),
        dedupe_bodies=_flag("receiver_dedupe_bodies"),
        rate_per_minute=_whole("receiver_rate_limit_per_minute", 0, minimum=0),
    )


def notifications_path() -> Path | None:
    """The folder of Alert and Provider manifests our operators' events go through; None: off."""
    configured = _get("notifications_path")
    return Path(configured) if configured else None


def notifications_state_url() -> str:
    """Where the duplicate-alert windows are kept (``[flux] notifications_state_path``, a folder or URL).

    By default beside a remote artifact store (``<artifacts_url>/notification-limits``), which
    every worker already shares, so a task retried on another machine does not alert again;
    with a local store, a folder under AIRFLOW_HOME shared by the task processes of the machine.
    """
    configured = _get("notifications_state_path")
    if configured:
        return configured
    store = artifacts_url()
    if "://" in store and not store.startswith("file://"):
        return f"{store.rstrip('/')}/notification-limits"
    return str(_airflow_home() / "flux" / "notification-limits")


@dataclass(frozen=True)
class TaskEvents:
    """The task-state listener's alert (``task_events_*`` options): where task outcomes go.

    ``provider`` is a Flux provider type (default ``generic``), ``severity`` ``error`` (failures
    only, the default) or ``info`` (every outcome), ``dags`` the DAG ids reported (empty: all).
    """

    conn_id: str
    provider: str
    channel: str | None
    severity: Literal["info", "error"]
    dags: tuple[str, ...]


def task_events() -> TaskEvents | None:
    """The ``[flux] task_events_*`` options, or None when ``task_events_conn_id`` is unset (off)."""
    conn_id = _get("task_events_conn_id")
    if not conn_id:
        return None
    severity = _get("task_events_severity") or "error"
    if severity not in ("info", "error"):
        raise SettingsError(
            f"{severity[:40]!r} is neither info nor error", field="[flux] task_events_severity"
        )
    return TaskEvents(
        conn_id=conn_id,
        provider=_get("task_events_provider") or "generic",
        channel=_get("task_events_channel") or None,
        severity="info" if severity == "info" else "error",
        dags=tuple(d.strip() for d in _get("task_events_dags").split(",") if d.strip()),
    )
