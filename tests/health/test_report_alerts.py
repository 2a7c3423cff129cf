"""The HTML report puts the run's alerts at the top: rule, severity, window, the value that
made each fire against its condition, and whether it was sent or suppressed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from loopml.core.entities import Alert, MetricValue, MonitorWindow
from loopml.health import MonitorService
from loopml.health.monitor_report import MonitorReport


def test_fired_alerts_head_the_page(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"amount": rng.lognormal(size=2_000), "size": rng.normal(size=2_000)})
    current = pd.DataFrame({"amount": rng.lognormal(size=2_000), "size": rng.normal(size=2_000)})
    current.loc[1_000:, "amount"] *= 3
    report = MonitorService(None).monitor(
        current=current,
        reference=reference,
        window=1000,
        multivariate=False,
        alerts=[
            {"name": "half-drifted", "when": "drift_share >= 0.5", "severity": "critical"},
            {"name": "amount-moved", "when": "feature: amount drifted", "sinks": []},
        ],
    )
    page = report.to_html(tmp_path / "r.html").read_text(encoding="utf-8")
    top = page.index("<h2>Alerts (2)</h2>")
    assert top < page.index("<th>dataset drift</th>")  # above the summary table
    alerts = page[top : page.index("</table>", top)]
    assert "<td class='critical'>critical</td><td>half-drifted</td><td>#1</td>" in alerts
    assert "drift_share 0.50 (drifted: amount)" in alerts
    assert "<code>drift_share &gt;= 0.5</code>" in alerts
    assert "amount: ks 0.422, p 6.09e-107 vs threshold 0.05" in alerts
    assert alerts.count("<td>fired</td>") == 2


def test_metric_alerts_show_the_bound_compared_and_quiet_runs_show_none(tmp_path: Path) -> None:
    window = MonitorWindow(
        index=0,
        start="2024-03-01T00:00:00Z",
        end="2024-03-02T00:00:00Z",
        rows=500,
        performance={"roc_auc": MetricValue("roc_auc", 0.7, 0.65, 0.76)},
    )
    alert = Alert(
        rule="auc-fell",
        severity="warning",
        condition="performance.roc_auc < 0.8",
        subject="model:credit",
        window=0,
        start=window.start,
        message="auc-fell",
        evidence={
            "performance": window.performance["roc_auc"].to_dict(),
            "compared": "high",
            "threshold": 0.8,
        },
        status="suppressed",
    )
    report = MonitorReport(windows=(window,), reference="r", current="c", alerts=(alert,))
    page = report.to_html(tmp_path / "m.html").read_text(encoding="utf-8")
    assert "<td>2024-03-01</td>" in page
    assert "performance.roc_auc high 0.76 (value 0.7, interval 0.65-0.76)" in page
    assert "suppressed (within its cooldown)" in page
    quiet = MonitorReport(windows=(window,), reference="r", current="c")
    assert "Alerts (" not in quiet.to_html(tmp_path / "q.html").read_text(encoding="utf-8")
