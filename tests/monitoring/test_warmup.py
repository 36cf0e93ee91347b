"""The warm-up is bounded and stops once every panel answers; the error ratio is 0, not "no
data", when nothing is wrong (promtool evaluates the real expression and alert rule)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from vpclab.monitoring import config, warmup
from vpclab.monitoring.panels import dashboard_panels
from vpclab.monitoring.promapi import PrometheusAPI
from vpclab.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_stops_sending_once_every_panel_has_data() -> None:
    clock, sent = Clock(), []
    answers = iter([["Request rate (app)"], ["Request rate (app)"], []])
    done = warmup.warm_up(
        lambda path: sent.append(path) or 200, lambda: next(answers), 2.0, 60.0, clock.sleep, clock
    )
    assert done.missing == [] and done.failed == 0
    assert done.sent == len(sent) == 2 * warmup.BURST
    assert set(sent) == set(warmup.PATHS) and clock.now == 4.0


def test_no_traffic_when_the_panels_already_have_data() -> None:
    clock = Clock()
    done = warmup.warm_up(lambda _p: pytest.fail("sent"), lambda: [], 2.0, 60.0, clock.sleep, clock)
    assert done.sent == 0 and clock.now == 0.0


def test_bounded_in_requests_and_time_when_data_never_comes() -> None:
    clock, sent = Clock(), []

    def send(path: str) -> int:
        sent.append(path)
        if len(sent) % 2:
            raise OSError("refused")
        return 502

    done = warmup.warm_up(send, lambda: ["CPU busy (web)"], 5.0, 45.0, clock.sleep, clock)
    assert len(sent) == done.sent == warmup.BURST * warmup.MAX_BURSTS == 50
    assert done.failed == 50 and done.missing == ["CPU busy (web)"]
    assert 45.0 <= done.seconds < 50.0


def test_pace_spans_a_scrape_and_the_limit_three() -> None:
    assert warmup.pace_for("15s") == (5.0, 60.0)
    assert warmup.pace_for("1s") == (0.5, 18.0)
    assert warmup.pace_for("10m") == (5.0, 120.0)
    assert warmup.seconds("500ms") == 0.5 and warmup.seconds("2h") == 7200


def _api(results: dict[str, list]) -> PrometheusAPI:
    def get(path: str) -> str:
        from urllib.parse import parse_qs, urlparse

        expr = parse_qs(urlparse(path).query)["query"][0]
        data = {"resultType": "vector", "result": results.get(expr, [])}
        return json.dumps({"status": "success", "data": data})

    return PrometheusAPI(get)


def test_missing_data_names_empty_and_nan_queries() -> None:
    panels = dashboard_panels("1m")
    p50, p95 = (q.expr for q in panels[2].queries)
    results = {q.expr: [{"metric": {}, "value": [1.0, "0.1"]}] for p in panels for q in p.queries}
    results[p95] = [{"metric": {}, "value": [1.0, "NaN"]}]
    results.pop(p50)
    prom = _api(results)
    assert warmup.missing_data(prom, panels) == ["Latency p50 / p95 (p50)"]
    assert warmup.missing_data(prom, panels, finite=True) == [
        "Latency p50 / p95 (p50)",
        "Latency p50 / p95 (p95)",
    ]


def _series(status: str, values: str) -> dict:
    return {"series": f'{config.APP_REQUESTS}{{status="{status}"}}', "values": values}


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool is not installed")
def test_error_ratio_is_zero_when_nothing_is_wrong(tmp_path: Path) -> None:
    spec = load_spec(ROOT / "lab.toml")
    window = spec.monitoring.rate_window
    expr = config.error_ratio_expr(window)
    (tmp_path / "rules.yml").write_text(config.rules_yml(spec))

    def case(series: list[dict], value: float, alerts: list[dict]) -> dict:
        return {
            "interval": "15s",
            "input_series": series or [{"series": 'up{job="x"}', "values": "1x40"}],
            "promql_expr_test": [
                {"expr": expr, "eval_time": "9m", "exp_samples": [{"labels": "{}", "value": value}]}
            ],
            "alert_rule_test": [
                {"eval_time": "9m", "alertname": "HighErrorRatio", "exp_alerts": alerts}
            ],
        }

    summary = f"more than {spec.monitoring.error_ratio_threshold:.0%} of requests answer 5xx"
    fired = {"exp_labels": {"severity": "warning"}, "exp_annotations": {"summary": summary}}
    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "15s",
        "tests": [
            case([], 0, []),  # no request counter at all: a fresh app
            case([_series("200", "0+10x40")], 0, []),  # traffic, no 5xx
            case([_series("200", "5x40")], 0, []),  # counters that stopped moving: 0/0
            case([_series("200", "0+30x40"), _series("500", "0+10x40")], 0.25, [fired]),
        ],
    }
    path = tmp_path / "tests.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    done = subprocess.run(
        ["promtool", "test", "rules", str(path)], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
