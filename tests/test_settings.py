"""The ``[flux]`` options: read in one module, from airflow.cfg or ``AIRFLOW__FLUX__*``, checked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import airflow_flux_provider
from airflow_flux_provider import settings
from airflow_flux_provider.receivers import GuardSettings
from airflow_flux_provider.settings import SettingsError, TaskEvents

BAD_VALUES = [
    ("RECEIVER_MAX_BODY_BYTES", "-1", settings.receiver_max_body_bytes, "receiver_max_body_bytes"),
    ("RECEIVER_MAX_BODY_BYTES", "1e6", settings.receiver_max_body_bytes, "receiver_max_body_bytes"),
    ("RECEIVER_MAX_BODY_BYTES", "0", settings.receiver_max_body_bytes, "receiver_max_body_bytes"),
    ("RECEIVER_DEDUPE_WINDOW_SECONDS", "nan", settings.receiver_guard, "receiver_dedupe_window_seconds"),
    ("RECEIVER_DEDUPE_WINDOW_SECONDS", "inf", settings.receiver_guard, "receiver_dedupe_window_seconds"),
    ("RECEIVER_DEDUPE_BODIES", "sometimes", settings.receiver_guard, "receiver_dedupe_bodies"),
    ("RECEIVER_RATE_LIMIT_PER_MINUTE", "2.5", settings.receiver_guard, "receiver_rate_limit_per_minute"),
    ("TASK_EVENTS_SEVERITY", "warning", settings.task_events, "task_events_severity"),
]


@pytest.mark.parametrize(("option", "value", "read", "field"), BAD_VALUES)
def test_an_unusable_value_names_the_option(
    monkeypatch: pytest.MonkeyPatch, option: str, value: str, read: object, field: str
) -> None:
    monkeypatch.setenv("AIRFLOW__FLUX__TASK_EVENTS_CONN_ID", "ops-hook")
    monkeypatch.setenv(f"AIRFLOW__FLUX__{option}", value)
    with pytest.raises(SettingsError, match=rf"field \[flux\] {field}: '{value}' is"):
        read()  # type: ignore[operator]


def test_defaults_live_under_airflow_home(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("AIRFLOW__FLUX__")]:
        monkeypatch.delenv(name)
    home = Path(os.environ["AIRFLOW_HOME"])
    assert settings.artifacts_path() == home / "flux" / "artifacts"
    assert settings.artifacts_url() == str(home / "flux" / "artifacts")
    assert settings.notifications_state_url() == str(home / "flux" / "notification-limits")
    assert settings.receiver_max_body_bytes() == 1 << 20
    assert (settings.receivers_path(), settings.notifications_path(), settings.task_events()) == (
        None,
        None,
        None,
    )
    assert (settings.artifacts_conn_id(), settings.tool_path("helm")) == (None, None)
    assert settings.receiver_guard() == GuardSettings()


def test_the_environment_sets_each_option(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_PATH", str(tmp_path / "a"))
    assert settings.artifacts_url() == str(tmp_path / "a")  # the URL follows the local folder
    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_URL", "s3://bucket/flux")
    monkeypatch.setenv("AIRFLOW__FLUX__TASK_EVENTS_CONN_ID", "ops-hook")
    monkeypatch.setenv("AIRFLOW__FLUX__TASK_EVENTS_DAGS", " ml_training, ,ml_deployment ")
    monkeypatch.setenv("AIRFLOW__FLUX__TASK_EVENTS_SEVERITY", "info")
    monkeypatch.setenv("AIRFLOW__FLUX__RECEIVER_DEDUPE_BODIES", "True")
    monkeypatch.setenv("AIRFLOW__FLUX__RECEIVER_RATE_LIMIT_PER_MINUTE", "120")
    monkeypatch.setenv("AIRFLOW__FLUX__RECEIVER_DEDUPE_WINDOW_SECONDS", "0.5")
    assert settings.artifacts_url() == "s3://bucket/flux"
    assert settings.notifications_state_url() == "s3://bucket/flux/notification-limits"  # every worker's
    monkeypatch.setenv("AIRFLOW__FLUX__NOTIFICATIONS_STATE_PATH", str(tmp_path / "limits"))
    assert settings.notifications_state_url() == str(tmp_path / "limits")
    assert settings.receiver_guard() == GuardSettings(
        window_seconds=0.5, dedupe_bodies=True, rate_per_minute=120
    )
    assert settings.task_events() == TaskEvents(
        conn_id="ops-hook",
        provider="generic",
        channel=None,
        severity="info",
        dags=("ml_training", "ml_deployment"),
    )


def test_no_other_module_reads_airflow_configuration() -> None:
    package = Path(airflow_flux_provider.__file__).parent
    readers = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if "airflow.configuration" in path.read_text(encoding="utf-8")
    ]
    assert readers == ["settings.py"]
