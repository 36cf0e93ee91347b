"""The dashboard picture, drawn from a Prometheus stand-in: one time range for every panel,
time labels that do not overlap, and a title that names the app once."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from vpclab.monitoring import draw, grafana
from vpclab.monitoring.panels import dashboard_panels, dashboard_title
from vpclab.monitoring.promapi import Series
from vpclab.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_800_000_000.0
SCRAPED_FOR = 120.0  # a fresh lab: Prometheus has scraped for two minutes


class FakePrometheus:
    """query_range as Prometheus answers on a fresh lab: real series start at the first
    scrape, while `or vector(0)` (the error ratio) has a point at every step of the range."""

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        first = start if "vector(0)" in expr else max(start, NOW - SCRAPED_FOR)
        times = [first + i * step for i in range(int((end - first) // step) + 1)]
        return [Series({"role": "app"}, times, [0.001 * (i % 7) for i in range(len(times))])]


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(draw.time, "time", lambda: NOW)
    return NOW


def test_window_starts_at_the_first_scrape(now: float) -> None:
    span = draw.window(FakePrometheus(), minutes=15)
    assert span.end == now
    assert span.start == pytest.approx(now - SCRAPED_FOR, abs=span.step + 8)
    assert draw.window(FakePrometheus(), minutes=1).start == now - 60  # within the scrapes


@pytest.mark.parametrize("seconds", [15, 40, 120, 480, 540, 900, 1500, 3600, 6 * 3600])
def test_every_panel_shares_one_window_and_readable_time_labels(now: float, seconds: int) -> None:
    span = draw.Window(now - seconds, now, max(1.0, seconds / 120))
    data = draw.fetch(FakePrometheus(), dashboard_panels("1m"), span)
    fig = draw.figure(data, span, "microblog")
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        shown = [ax for ax in fig.axes if ax.get_visible()]
        assert len(shown) == len(data)
        assert len({ax.get_xlim() for ax in shown}) == 1, "panels cover different ranges"
        for ax in shown:
            title = ax.get_title(loc="left")
            labels = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
            assert 3 <= len(labels) <= 6, f"{title}: {len(labels)} time labels"
            boxes = [t.get_window_extent(renderer) for t in labels]
            for a, b in itertools.pairwise(sorted(boxes, key=lambda box: box.x0)):
                assert a.x1 < b.x0, f"{title}: time labels overlap"
    finally:
        plt.close(fig)


def test_title_names_the_app_once() -> None:
    assert dashboard_title("microblog") == "microblog"
    assert dashboard_title("class-a") == "microblog (lab class-a)"
    board = json.loads(grafana.files(load_spec(ROOT / "lab.toml"))["dashboards/microblog.json"])
    assert board["title"].count("microblog") == 1


def test_png_written(now: float, tmp_path) -> None:
    span = draw.window(FakePrometheus(), 15)
    path = draw.draw(
        draw.fetch(FakePrometheus(), dashboard_panels("1m"), span),
        span,
        tmp_path / "d.png",
        "microblog",
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
