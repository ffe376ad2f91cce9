"""Go-style durations: what parses, what is refused with which message, how they are written."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.specs import (
    DurationError,
    SpecError,
    format_duration,
    parse_duration,
    parse_object,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1m", timedelta(minutes=1)),
        ("10m", timedelta(minutes=10)),
        ("1h30m", timedelta(minutes=90)),
        ("1.5h", timedelta(minutes=90)),
        ("500ms", timedelta(milliseconds=500)),
        ("1m30s", timedelta(seconds=90)),
        ("2h45m10.5s", timedelta(hours=2, minutes=45, seconds=10.5)),
        ("0.5s", timedelta(milliseconds=500)),
        (".5s", timedelta(milliseconds=500)),
        ("1.s", timedelta(seconds=1)),
        ("300us", timedelta(microseconds=300)),
        ("300µs", timedelta(microseconds=300)),
        ("1500ns", timedelta(microseconds=2)),  # rounded to timedelta's resolution
        ("0", timedelta(0)),
        ("0s", timedelta(0)),
        ("1h0m0s", timedelta(hours=1)),  # what Go's Duration.String() prints
        ("72h", timedelta(days=3)),
        (" 5m ", timedelta(minutes=5)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "not a duration"),
        ("1x", "not a duration"),
        ("10", "missing unit"),
        ("1.5", "missing unit"),
        ("m", "not a duration"),
        ("1 m", "not a duration"),
        ("1h 30m", "not a duration"),
        ("1d", "not a duration"),
        ("5 minutes", "not a duration"),
        ("-1m", "must not carry a sign"),
        ("+1m", "must not carry a sign"),
    ],
)
def test_bad_durations_say_what_is_expected(text: str, reason: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    message = str(info.value)
    assert repr(text) in message and reason in message
    assert "expected a Go duration such as 30s, 5m, 1h30m" in message
    assert isinstance(info.value, FluxError)


@pytest.mark.parametrize("value", [60, 1.5, None, True])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(DurationError, match="written as a string"):
        parse_duration(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(minutes=1), "1m"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(milliseconds=1500), "1s500ms"),
        (timedelta(days=1), "24h"),
        (timedelta(microseconds=7), "7us"),
        (-timedelta(seconds=5), "-5s"),
    ],
)
def test_format_duration(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text
    if delta >= timedelta(0):
        assert parse_duration(text) == delta


def test_format_duration_without_hours() -> None:
    assert format_duration(timedelta(minutes=90), largest="m") == "90m"


def _git(**spec: object) -> dict[str, object]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "app", "namespace": "flux-system"},
        "spec": {"url": "https://example.com/app.git", "interval": "1m", **spec},
    }


def test_flux_fields_follow_the_crd_duration_rule() -> None:
    # Go accepts "0" and "us", the Flux CRD pattern does not.
    with pytest.raises(SpecError) as info:
        parse_object(_git(interval="300us"))
    expected = "field spec.interval: invalid duration '300us' for Flux: use numbers with units ms, s, m or h"
    assert expected in str(info.value)


def test_flux_timeouts_refuse_hours_and_are_written_in_minutes() -> None:
    with pytest.raises(SpecError) as info:
        parse_object(_git(timeout="1h"))
    expected = "field spec.timeout: invalid duration '1h' for Flux: timeouts take units ms, s or m only"
    assert expected in str(info.value)
    repo = parse_object(_git(timeout="90m"))
    assert repo.spec.timeout == timedelta(minutes=90)
    assert repo.to_manifest()["spec"]["timeout"] == "90m"


@pytest.mark.parametrize(("text", "ok"), [("1m", True), ("90s", True), ("1m30s", True), ("500ms", True),
                                          ("1h", False), ("1.5m", False)])  # fmt: skip
def test_flagger_fields_follow_the_flagger_crd_rule(text: str, ok: bool) -> None:
    data = {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "web"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "service": {"port": 80},
            "analysis": {"metrics": [{"name": "request-success-rate", "interval": text}]},
        },
    }
    if ok:
        metric = parse_object(data).spec.analysis.metrics[0]
        assert metric.interval == parse_duration(text)
        assert (
            parse_object(parse_object(data).to_manifest()).spec.analysis.metrics[0].interval
            == metric.interval
        )
    else:
        with pytest.raises(SpecError, match=r"invalid duration '.*' for Flagger: start with whole minutes"):
            parse_object(data)
