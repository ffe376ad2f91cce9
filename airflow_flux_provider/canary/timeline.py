"""A canary analysis as a timeline: one :class:`CanaryStep` per tick, drawn as a chart.

The analysis task carries its steps in XCom (they survive each deferral), logs them to MLflow
with ``step=`` the tick and attaches :func:`report_html` to its run; the Flux view draws the
same :func:`timeline_svg`. One drawing, so the MLflow report and the UI never disagree.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import TypedDict

from airflow_flux_provider.canary.analysis import TickResult
from airflow_flux_provider.canary.metrics import threshold_bounds
from airflow_flux_provider.specs.flagger import Canary


class CanaryStep(TypedDict):
    """One tick: the traffic weight its metrics were measured at, the failed-check count after
    it, each measured metric, and the decision (``weight 20``, ``failed check 1: ...``)."""

    tick: int
    phase: str
    weight: int
    failed_checks: int
    metrics: dict[str, float]
    decision: str


def step_of(tick: int, result: TickResult) -> CanaryStep:
    return {
        "tick": tick,
        "phase": result.status.phase,
        # the weight this tick's metrics were measured at; without metrics, the weight it left
        "weight": result.measured_weight if result.metrics else result.status.canary_weight,
        "failed_checks": result.status.failed_checks,
        "metrics": {
            m.name: m.value for m in result.metrics if m.value is not None and math.isfinite(m.value)
        },
        "decision": result.decision,
    }


@dataclass(frozen=True)
class Threshold:
    """The bounds one analysis metric must stay within (None: unbounded on that side)."""

    metric: str
    min: float | None
    max: float | None


def thresholds(canary: Canary) -> list[Threshold]:
    analysis = canary.spec.analysis
    metrics = analysis.metrics if analysis else []
    return [Threshold(m.name, *threshold_bounds(m)) for m in metrics]


# -- drawing ---------------------------------------------------------------------------------------
_WIDTH, _PANEL, _GAP, _LEFT, _RIGHT = 640, 110, 34, 56, 16
_PASS, _FAIL, _LINE, _LIMIT = "#2e7d32", "#c62828", "#1565c0", "#ef6c00"


def _fmt(value: float) -> str:
    return f"{value:.4g}"


class _Panel:
    """One chart panel: a value per tick on a shared x axis, with optional threshold lines."""

    def __init__(self, top: float, ticks: list[int], low: float, high: float) -> None:
        self.top, self.ticks, self.shown = top, ticks, (low, high)
        span = (high - low) or 1.0
        self.low, self.high = low - span * 0.05, high + span * 0.05
        first, last = ticks[0], ticks[-1]
        self.x_span = (last - first) or 1

    def x(self, tick: int) -> float:
        return _LEFT + (tick - self.ticks[0]) / self.x_span * (_WIDTH - _LEFT - _RIGHT)

    def y(self, value: float) -> float:
        return self.top + _PANEL - (value - self.low) / (self.high - self.low) * _PANEL

    def frame(self, title: str) -> list[str]:
        left, right = _LEFT, _WIDTH - _RIGHT
        scale = [
            f'<text x="{left - 4}" y="{self.y(value) + 4:.1f}" text-anchor="end">{_fmt(value)}</text>'
            for value in self.shown
        ]
        return [
            f'<text x="{left}" y="{self.top - 6:.1f}" font-weight="bold">{html.escape(title)}</text>',
            f'<rect x="{left}" y="{self.top}" width="{right - left}" height="{_PANEL}" '
            'fill="none" stroke="#bbb"/>',
            *scale,
        ]

    def limit(self, value: float, label: str) -> str:
        y = self.y(value)
        return (
            f'<line class="threshold" x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{_LIMIT}" stroke-dasharray="5 3"><title>{html.escape(label)}</title></line>'
        )

    def series(self, css: str, points: list[tuple[int, float, bool, str]]) -> list[str]:
        """A line through ``(tick, value, passed, tooltip)`` with a dot per tick (red: failed)."""
        coords = " ".join(f"{self.x(t):.1f},{self.y(v):.1f}" for t, v, _, _ in points)
        out = [f'<polyline class="{css}" points="{coords}" fill="none" stroke="{_LINE}" stroke-width="2"/>']
        for tick, value, passed, tip in points:
            colour = _PASS if passed else _FAIL
            out.append(
                f'<circle cx="{self.x(tick):.1f}" cy="{self.y(value):.1f}" r="4" fill="{colour}">'
                f"<title>{html.escape(tip)}</title></circle>"
            )
        return out


#: how a tick's decision starts when it held the canary back (see canary.analysis)
_SETBACKS = ("failed check", "rolled back", "promotion failed")


def _failed(step: CanaryStep) -> bool:
    return step["phase"] == "Failed" or step["decision"].startswith(_SETBACKS)


def timeline_svg(steps: list[CanaryStep], limits: list[Threshold]) -> str:
    """Traffic weight per tick, then one panel per metric against its thresholds.

    A dot's colour is the tick's verdict (red: a failed check, a rollback), its tooltip the
    decision text; dashed orange lines are the thresholds.
    """
    if not steps:
        return '<svg xmlns="http://www.w3.org/2000/svg" class="canary-timeline" width="0" height="0"></svg>'
    ticks = [s["tick"] for s in steps]
    names = [t.metric for t in limits] + sorted(
        {n for s in steps for n in s["metrics"]} - {t.metric for t in limits}
    )
    by_name = {t.metric: t for t in limits}
    parts: list[str] = []
    top = 24.0
    weight = _Panel(top, ticks, 0, max(100, *(s["weight"] for s in steps)))
    parts += weight.frame("canary traffic weight (%)")
    parts += weight.series(
        "weight",
        [(s["tick"], s["weight"], not _failed(s), f"tick {s['tick']}: {s['decision']}") for s in steps],
    )
    for name in names:
        measured = [(s["tick"], s["metrics"][name], s) for s in steps if name in s["metrics"]]
        limit = by_name.get(name, Threshold(name, None, None))
        bounds = [b for b in (limit.min, limit.max) if b is not None]
        values = [v for _, v, _ in measured] + bounds
        if not values:
            continue
        top += _PANEL + _GAP
        panel = _Panel(top, ticks, min(values), max(values))
        parts += panel.frame(name)
        parts += [panel.limit(b, f"{name} {'min' if b == limit.min else 'max'} {_fmt(b)}") for b in bounds]
        parts += panel.series(
            "metric",
            [
                (t, v, (limit.min is None or v >= limit.min) and (limit.max is None or v <= limit.max),
                 f"tick {t} at weight {s['weight']}%: {name} = {_fmt(v)} ({s['decision']})")
                for t, v, s in measured
            ],
        )  # fmt: skip
    height = top + _PANEL + 28
    axis = [
        f'<text x="{weight.x(t):.1f}" y="{height - 8:.1f}" text-anchor="middle">{t}</text>'
        for t in ticks
        if len(ticks) <= 30 or t % math.ceil(len(ticks) / 30) == 0
    ]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="canary-timeline" width="{_WIDTH}" '
        f'height="{height:.0f}" font-family="sans-serif" font-size="11">'
        + "".join(parts + axis)
        + f'<text x="{_LEFT - 8}" y="{height - 8:.1f}" text-anchor="end">tick</text></svg>'
    )


def report_html(ref: str, steps: list[CanaryStep], limits: list[Threshold]) -> str:
    """A self-contained page: the chart and a table of every tick (the MLflow run's artifact)."""
    names = sorted({n for s in steps for n in s["metrics"]})
    head = "".join(f"<th>{html.escape(n)}</th>" for n in ["tick", "phase", "weight", "failed checks", *names])
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in [s["tick"], s["phase"], s["weight"], s["failed_checks"]]
            + [_fmt(s["metrics"][n]) if n in s["metrics"] else "" for n in names]
        )
        + f"<td>{html.escape(s['decision'])}</td></tr>"
        for s in steps
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(ref)} canary</title>'
        "<style>body{font-family:sans-serif;margin:1rem}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px}</style></head>"
        f"<body><h1>{html.escape(ref)}</h1>{timeline_svg(steps, limits)}"
        f"<table><tr>{head}<th>decision</th></tr>{rows}</table></body></html>"
    )
