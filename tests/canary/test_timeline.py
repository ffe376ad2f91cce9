"""The canary timeline chart (Flux view and MLflow report): what it draws, and that it draws
names and decisions as text, never as markup."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from airflow_flux_provider.canary.timeline import CanaryStep, Threshold, report_html, thresholds, timeline_svg
from airflow_flux_provider.specs import parse_object
from tests.canary.conftest import canary_manifest

SVG = "{http://www.w3.org/2000/svg}"


def _step(tick: int, weight: int, decision: str, **metrics: float) -> CanaryStep:
    return {"tick": tick, "phase": "Progressing", "weight": weight, "failed_checks": 0, "metrics": metrics,
            "decision": decision}  # fmt: skip


STEPS = [
    _step(1, 0, "scaled up podinfo"),
    _step(2, 10, "weight 20", **{"request-success-rate": 100.0, "request-duration": 40.0}),
    _step(
        3,
        20,
        "failed check 1: request-duration 900 > 500",
        **{"request-success-rate": 99.5, "request-duration": 900.0},
    ),
]


def test_thresholds_are_read_as_the_analysis_checks_them():
    manifest = canary_manifest("ns", "podinfo", prometheus="http://p", hooks="http://h")
    metrics = manifest["spec"]["analysis"]["metrics"]
    metrics.append({"name": "error-rate", "threshold": 5, "interval": "1m"})
    assert thresholds(parse_object(manifest)) == [
        Threshold("request-success-rate", 99, None),
        Threshold("request-duration", None, 500),
        Threshold("error-rate", None, 5),  # the deprecated threshold: a maximum for other metrics
    ]
    metrics[0] = {"name": "request-success-rate", "threshold": 98, "interval": "1m"}
    assert thresholds(parse_object(manifest))[0] == Threshold("request-success-rate", 98, None)  # a minimum


def test_the_chart_draws_weight_and_each_metric_against_its_thresholds():
    limits = [Threshold("request-success-rate", 99, None), Threshold("request-duration", None, 500)]
    chart = ET.fromstring(timeline_svg(STEPS, limits))
    lines = chart.findall(f"{SVG}polyline")
    assert [line.get("class") for line in lines] == ["weight", "metric", "metric"]
    assert len(lines[0].get("points", "").split()) == 3 and len(lines[2].get("points", "").split()) == 2
    drawn = [
        line.findtext(f"{SVG}title") for line in chart.iter(f"{SVG}line") if line.get("class") == "threshold"
    ]
    assert drawn == ["request-success-rate min 99", "request-duration max 500"]
    red = [c.findtext(f"{SVG}title") for c in chart.iter(f"{SVG}circle") if c.get("fill") == "#c62828"]
    assert red == [
        "tick 3: failed check 1: request-duration 900 > 500",  # the weight line: that tick failed
        "tick 3 at weight 20%: request-duration = 900 (failed check 1: request-duration 900 > 500)",
    ]


def test_names_and_decisions_are_text_not_markup():
    hostile = "<script>alert(1)</script>"
    steps = [_step(1, 10, f"weight 10 {hostile}", **{hostile: 1.0})]
    svg = timeline_svg(steps, [Threshold(hostile, 0, None)])
    page = report_html(f"Canary/ns/{hostile}", steps, [])
    assert "<script>" not in svg and "<script>" not in page
    assert "&lt;script&gt;" in svg and page.count("&lt;script&gt;") >= 3  # title, heading, table
    ET.fromstring(svg)  # still well-formed


def test_no_steps_draw_an_empty_chart_and_a_report_with_no_rows():
    assert 'width="0"' in timeline_svg([], [])
    assert report_html("Canary/ns/podinfo", [], []).count("<tr>") == 1
