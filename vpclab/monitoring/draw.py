"""The dashboard drawn as one picture: each panel's queries over a time range from
Prometheus' query_range, in a grid with titles and units (Grafana cannot run here)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, PercentFormatter  # noqa: E402

from vpclab.monitoring.panels import Panel, Query  # noqa: E402
from vpclab.monitoring.promapi import PrometheusAPI, Series  # noqa: E402

UNIT_LABELS = {"reqps": "requests/s", "percentunit": "%", "s": "seconds", "short": ""}


@dataclass(frozen=True)
class PanelData:
    panel: Panel
    lines: list[tuple[str, Series]]  # legend, series


def legend(query: Query, series: Series) -> str:
    text = query.legend
    for key, value in series.labels.items():
        text = text.replace("{{" + key + "}}", value)
    return text


@dataclass(frozen=True)
class Window:
    """The one time range every panel is drawn over (Unix seconds)."""

    start: float
    end: float
    step: float


def window(api: PrometheusAPI, minutes: float, points: int = 120) -> Window:
    """The last `minutes`, starting no earlier than Prometheus' first scrape in them: a query
    padded with `or vector(0)` (the error ratio) has points before any scrape, and would
    otherwise stretch its panel over a range where the others have nothing."""
    end = time.time()
    start = end - minutes * 60
    scraped = [
        t
        for s in api.query_range("up", start, end, max(1.0, minutes * 60 / points))
        for t in s.times
    ]
    if scraped:
        start = max(start, min(scraped))
    return Window(start, end, max(1.0, (end - start) / points))


def fetch(api: PrometheusAPI, panels: list[Panel], span: Window) -> list[PanelData]:
    return [
        PanelData(
            p,
            [
                (legend(q, s), s)
                for q in p.queries
                for s in api.query_range(q.expr, span.start, span.end, span.step)
            ],
        )
        for p in panels
    ]


def _unit_axis(ax: plt.Axes, unit: str) -> None:
    if unit == "percentunit":
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    elif unit == "s":
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v * 1000:.0f} ms"))
    ax.set_ylabel(UNIT_LABELS.get(unit, unit))


def _utc(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)


def _time_locator() -> mdates.AutoDateLocator:
    """Three to six time labels: a panel is half the figure wide, and more overlap. Steps of
    2 min (and 2 s) too, so an 8-minute window gets four labels, not two 5 minutes apart."""
    locator = mdates.AutoDateLocator(minticks=3, maxticks=6, tz=UTC)
    for unit in (mdates.SECONDLY, mdates.MINUTELY):
        locator.intervald[unit] = [1, 2, 5, 10, 15, 20, 30]
    return locator


def figure(data: list[PanelData], span: Window, title: str) -> plt.Figure:
    """A grid of panels, two a row, all over the same time range."""
    short = span.end - span.start < 20 * 60
    clock = "%H:%M:%S" if short else "%H:%M"
    columns = 2
    rows = math.ceil(len(data) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(12, 3.2 * rows), squeeze=False)
    for ax, item in zip(axes.flat, data, strict=False):
        ax.set_title(item.panel.title, fontsize=11, loc="left")
        for label, s in item.lines:
            ax.plot([_utc(t) for t in s.times], s.values, label=label)
        if item.lines:
            ax.legend(fontsize=8, loc="upper left")
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        _unit_axis(ax, item.panel.unit)
        peak = max((v for _l, s in item.lines for v in s.values if v == v), default=0.0)
        ax.set_ylim(0, peak * 1.15 if peak > 0 else 1.0)
        ax.set_xlim(_utc(span.start), _utc(span.end))
        ax.xaxis.set_major_locator(_time_locator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter(clock, tz=UTC))
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(data) :]:
        ax.set_visible(False)
    fig.suptitle(f"{title}, last {_minutes(span)} (UTC)", fontsize=13)
    fig.tight_layout()
    return fig


def _minutes(span: Window) -> str:
    minutes = (span.end - span.start) / 60
    return f"{minutes:.0f} min" if minutes >= 1.5 else f"{minutes * 60:.0f} s"


def draw(data: list[PanelData], span: Window, path: Path, title: str) -> Path:
    """One PNG of the panels over `span`."""
    fig = figure(data, span, title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
