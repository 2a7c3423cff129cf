"""The HTML report is self-contained, well-formed, escaped, and shows what the evaluation holds."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from loopml.core.entities.evaluation import (
    CostResult,
    DatasetEvaluation,
    Evaluation,
    FairnessResult,
    GateCheck,
    GateDecision,
    MetricDelta,
    MetricValue,
    SliceResult,
)
from loopml.evaluation.report import lower_is_better, render_html, report_json
from loopml.evaluation.svg import downsample, nice_ticks

EVIL = "<script>alert(1)</script>"
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr", "source", "area", "base"}


class _Checker(HTMLParser):
    """Records every start tag and fails on an end tag that does not close the open one."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.errors: list[str] = []
        self.doctype = ""

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def _attrs(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = [name for name, _ in attrs]
        if len(set(names)) != len(names):
            self.errors.append(f"<{tag}> repeats an attribute: {names}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attrs(tag, attrs)
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attrs(tag, attrs)
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()


def _parse(html: str) -> _Checker:
    checker = _Checker()
    checker.feed(html)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    return checker


def _binary_dataset() -> DatasetEvaluation:
    n = 2000
    fpr = [i / (n - 1) for i in range(n)]
    tpr = [math.sqrt(x) for x in fpr]
    base_tpr = [x**0.7 for x in fpr]
    calibration = {
        "predicted": [0.05, 0.15, 0.25, 0.35, 0.5, 0.7, 0.9],
        "observed": [0.04, 0.18, 0.22, 0.4, 0.45, 0.75, 0.88],
        "count": [400, 300, 250, 200, 150, 100, 50],
    }
    auc_delta = MetricDelta("auc", 0.83, 0.80, 0.03, 0.012, 0.048)
    return DatasetEvaluation(
        dataset="credit-holdout@2",
        rows=1450,
        metrics=(
            MetricValue("auc", 0.8312, 0.8201, 0.8420),
            MetricValue("log_loss", 0.4123, 0.4011, 0.4240),
            MetricValue("accuracy", 0.7770, 0.7601, 0.7932),
            MetricValue("ece", None, reason="only one predicted probability bin has rows"),
        ),
        deltas=(
            auc_delta,
            MetricDelta("log_loss", 0.4123, 0.4010, 0.0113, 0.0042, 0.0190),
            MetricDelta("accuracy", 0.777, 0.775, 0.002, -0.01, 0.014),
            MetricDelta("ece", None, 0.05, None, reason="candidate not computable"),
        ),
        slices=(
            SliceResult(
                "region = 'north'",
                "value",
                600,
                (MetricValue("auc", 0.85, 0.83, 0.87),),
                (MetricDelta("auc", 0.85, 0.81, 0.04, 0.01, 0.07),),
            ),
            SliceResult(EVIL, "expression", 40, (MetricValue("auc", 0.7, 0.6, 0.8),), (auc_delta,)),
            SliceResult("age in [90, 120)", "bin", 0, reason="no rows in this slice"),
        ),
        worst_slices=(
            SliceResult(
                "region = 'south' & channel = 'web'",
                "auto",
                120,
                (MetricValue("auc", 0.61, 0.52, 0.70),),
                (MetricDelta("auc", 0.61, 0.72, -0.11, -0.2, -0.03),),
            ),
        ),
        fairness=(
            FairnessResult(
                "sex",
                "demographic_parity_difference",
                0.042,
                {
                    "F": {"support": 700, "selection_rate": 0.31, "tpr": 0.7, "fpr": 0.1},
                    "M": {"support": 750, "selection_rate": 0.27, "tpr": 0.68, "fpr": 0.12},
                },
            ),
            FairnessResult("age_band", "equalized_odds_ratio", None, reason="one group only"),
        ),
        curves={
            "roc": {"fpr": fpr, "tpr": tpr},
            "baseline_roc": {"fpr": fpr, "tpr": base_tpr},
            "pr": {"recall": fpr[::-1], "precision": [0.3 + 0.7 * (1 - r) for r in fpr[::-1]]},
            "baseline_pr": {"recall": [0.0, 0.5, 1.0], "precision": [1.0, 0.6, 0.3]},
            "calibration": calibration,
            "baseline_calibration": {**calibration, "observed": [0.1] * 7},
            "confusion": {"labels": [0, 1], "matrix": [[900, 100], [223, 227]]},
        },
        notes=("12 rows with a missing label were left out",),
    )


def _regression_dataset() -> DatasetEvaluation:
    return DatasetEvaluation(
        dataset="prices-test@1",
        rows=800,
        metrics=(MetricValue("rmse", 12.5, 11.9, 13.2), MetricValue("mae", 8.1, 7.7, 8.6)),
        slices=(SliceResult("city = 'Paris'", "value", 200, (MetricValue("rmse", 15.0),)),),
        curves={
            "residuals": {
                "edges": [-30, -20, -10, 0, 10, 20, 30],
                "counts": [5, 60, 330, 310, 80, 15],
            },
            "baseline_residuals": {
                "edges": [-30, -20, -10, 0, 10, 20, 30],
                "counts": [20, 90, 280, 260, 110, 40],
            },
        },
    )


@pytest.fixture
def evaluation() -> Evaluation:
    return Evaluation(
        evaluation_id="a" * 32,
        model="credit-default@7",
        baseline="credit-default@5",
        task="binary",
        target="default",
        datasets=(_binary_dataset(), _regression_dataset()),
        costs=CostResult(
            {"p50_1": 0.42, "p99_1": 1.9, "p50_1000": 3.1, "p99_1000": 7.8}, 48.2, 2_400_000
        ),
        created_at=1_700_000_000_000,
        created_by="ci",
        config={"resamples": 1000, "confidence": 0.95, "seed": 0},
    )


@pytest.fixture
def decision() -> GateDecision:
    return GateDecision(
        model="credit-default@7",
        policy="release",
        passed=False,
        checks=(
            GateCheck("auc >= 0.80", "threshold", True, "0.8312 [0.8201, 0.8420]", ">= 0.80", "ok"),
            GateCheck(
                "log_loss no worse than champion",
                "baseline",
                False,
                "+0.0113 [+0.0042, +0.0190]",
                "<= 0",
                "worse than the baseline",
                "credit-holdout@2",
            ),
            GateCheck("ece <= 0.05", "threshold", None, "not computable", "<= 0.05", "no value"),
        ),
        evaluation_id="a" * 32,
        at=1_700_000_100_000,
        actor="ci",
    )


def test_page_is_self_contained_html5(evaluation: Evaluation, decision: GateDecision) -> None:
    html = render_html(evaluation, decision=decision)
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in html and '<meta charset="utf-8">' in html
    checker = _parse(html)
    assert checker.doctype.lower() == "doctype html"
    # the only URL allowed is the SVG namespace, which is an identifier, not a fetch
    assert "https://" not in html
    assert html.replace('xmlns="http://www.w3.org/2000/svg"', "").count("http://") == 0
    for fetch in ("<script", "<link", "src=", "@import", "url("):
        assert fetch not in html


def test_one_svg_per_chart(evaluation: Evaluation) -> None:
    html = render_html(evaluation)
    tags = _parse(html).tags
    # binary: ROC, PR, calibration, slices; regression: residuals, slices
    assert tags.count("svg") == 6
    for label in ("ROC curve", "Precision-recall curve", "Calibration", "Residuals"):
        assert f'aria-label="{label}: credit-default@7"' in html
    assert html.count('aria-label="auc by slice') == 1
    assert html.count('aria-label="rmse by slice') == 1
    assert tags.count("polyline") >= 7  # 3 charts x 2 lines + the baseline residuals outline


def test_each_svg_is_well_formed_xml(evaluation: Evaluation) -> None:
    svgs = re.findall(r"<svg .*?</svg>", render_html(evaluation), flags=re.DOTALL)
    assert len(svgs) == 6
    for svg in svgs:
        root = ET.fromstring(svg)  # raises on a repeated attribute or an unescaped "<"
        assert root.tag == "{http://www.w3.org/2000/svg}svg"


def test_missing_curves_draw_nothing(evaluation: Evaluation) -> None:
    bare = DatasetEvaluation("x@1", 10, (MetricValue("auc", 0.5),), curves={"roc": {"fpr": [0]}})
    html = render_html(Evaluation.from_dict({**evaluation.to_dict(), "datasets": [bare.to_dict()]}))
    _parse(html)
    assert "<svg" not in html and "Confusion matrix" not in html


def test_metric_values_intervals_and_colored_deltas(evaluation: Evaluation) -> None:
    html = render_html(evaluation)
    assert "0.8312" in html and "[0.8201, 0.8420]" in html
    assert "[+0.0120, +0.0480]" in html
    # auc went up (better); log_loss went up (worse: lower is better); accuracy's CI spans 0
    assert '<td class="num better">+0.0300 (better)</td>' in html
    assert '<td class="num worse">+0.0113 (worse)</td>' in html
    assert '<td class="num ">+0.0020</td>' in html
    assert "not computable: only one predicted probability bin has rows" in html
    assert "not computable: candidate not computable" in html
    assert "12.5000" in html and "[11.9000, 13.2000]" in html


def test_confusion_slices_fairness_notes_and_costs(evaluation: Evaluation) -> None:
    html = render_html(evaluation)
    assert "Confusion matrix" in html and ">900<small>90%</small>" in html
    assert "WORST SLICES (FOUND BY SEARCH)" in html and "DECLARED SLICES" in html
    assert "n=600" in html and "n=0" in html and "not computable: no rows in this slice" in html
    assert "demographic_parity_difference" in html and "not computable: one group only" in html
    assert "12 rows with a missing label were left out" in html
    assert "0.42 ms" in html and "7.80 ms" in html and "48.2 MB" in html and "2.3 MB" in html


def test_user_text_is_escaped(evaluation: Evaluation) -> None:
    html = render_html(evaluation, title=EVIL)
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    _parse(html)


def test_failed_check_shows_failed_banner(evaluation: Evaluation, decision: GateDecision) -> None:
    html = render_html(evaluation, decision=decision)
    assert 'class="banner failed"' in html and "FAILED" in html and "PASSED" not in html
    assert "✓ passed" in html and "✗ failed" in html and "not checked" in html
    assert "worse than the baseline" in html and "&lt;= 0.05" in html
    # a decision marked passed but holding a failed check is still shown as failed
    lying = replace(decision, passed=True)
    assert "FAILED" in render_html(evaluation, decision=lying)
    passing = replace(decision, passed=True, checks=decision.checks[:1])
    assert 'class="banner passed"' in render_html(evaluation, decision=passing)
    assert 'class="banner' not in render_html(evaluation)


def test_report_json_round_trips(evaluation: Evaluation, decision: GateDecision) -> None:
    result = report_json(evaluation, decision=decision)
    loaded = json.loads(json.dumps(result, allow_nan=False))
    assert Evaluation.from_dict(loaded["evaluation"]) == evaluation
    assert Evaluation.from_dict(result["evaluation"]) == evaluation
    assert GateDecision.from_dict(loaded["decision"]) == decision
    assert loaded["passed"] is False
    assert loaded["lower_is_better"]["log_loss"] is True
    assert loaded["lower_is_better"]["auc"] is False
    assert report_json(evaluation)["decision"] is None


def test_written_report_is_small(evaluation: Evaluation, tmp_path: Path) -> None:
    single = Evaluation.from_dict({**evaluation.to_dict(), "datasets": [
        evaluation.datasets[0].to_dict()]})  # fmt: skip
    path = tmp_path / "report.html"
    path.write_text(render_html(single), encoding="utf-8")
    assert path.stat().st_size < 1_000_000
    polylines = path.read_text(encoding="utf-8").split("<polyline")[1:]
    assert max(p.split('"')[1].count(",") for p in polylines) <= 300


def test_downsample_keeps_endpoints_and_order() -> None:
    xs = [float(i) for i in range(2000)]
    kx, ky = downsample(xs, xs, 300)
    assert len(kx) == 300 and kx[0] == 0.0 and kx[-1] == 1999.0 and kx == sorted(kx)
    assert ky == kx
    assert downsample([1.0, 2.0], [3.0, 4.0]) == ([1.0, 2.0], [3.0, 4.0])


@pytest.mark.parametrize(
    ("lo", "hi"), [(0.0, 1.0), (-30.0, 30.0), (0.0, 437.0), (0.61, 0.87), (5.0, 5.0)]
)
def test_nice_ticks_cover_the_range(lo: float, hi: float) -> None:
    ticks = nice_ticks(lo, hi)
    assert ticks[0] <= lo and ticks[-1] >= hi and 2 <= len(ticks) <= 12
    assert ticks == sorted(ticks)


def test_metric_direction() -> None:
    for name in ("log_loss", "brier", "ece", "mae", "rmse", "mape", "error_q90"):
        assert lower_is_better(name)
    for name in ("auc", "accuracy", "f1", "r2"):
        assert not lower_is_better(name)
