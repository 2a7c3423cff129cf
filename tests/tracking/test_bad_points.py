"""One bad point must not lose the others (issue 13 §2): every value is checked when it is
logged, and a batch the store still refuses is written around its refused points."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from loopml.core.entities import MetricPoint, RunStatus
from loopml.core.errors import InvalidArgumentError
from loopml.tracking import MetricWriter, TrackingService

GOOD = 1000


@pytest.mark.parametrize(
    ("step", "match"),
    [
        (2**63, r"step of metric 'bad' is 9223372036854775808; steps must fit in 64 bits"),
        (-(2**63) - 1, "steps must fit in 64 bits"),
        (np.uint64(2**64 - 1), "steps must fit in 64 bits"),
    ],
)
def test_a_step_beyond_64_bits_raises_at_the_call(
    service: TrackingService, step: object, match: str
) -> None:
    run = service.create_run(experiment="exp")
    for i in range(GOOD):
        service.log_metric(run.run_id, "good", float(i), step=i)
    with pytest.raises(InvalidArgumentError, match=match):
        service.log_metric(run.run_id, "bad", 1.0, step=step)  # type: ignore[arg-type]
    service.end_run(run.run_id)
    stored = service.get_run(run.run_id)
    assert stored.status is RunStatus.FINISHED
    assert len(service.get_metric_history(run.run_id, "good")) == GOOD
    assert "bad" not in stored.metrics


def test_the_int64_bounds_are_valid_steps(service: TrackingService) -> None:
    run = service.create_run(experiment="exp")
    service.log_metric(run.run_id, "m", 1.0, step=-(2**63))
    service.log_metric(run.run_id, "m", 2.0, step=2**63 - 1)
    service.flush()
    assert [p.step for p in service.get_metric_history(run.run_id, "m")] == [-(2**63), 2**63 - 1]


@pytest.mark.parametrize(
    "value",
    [10**400, -(10**400), Decimal("1e400"), Fraction(10**400, 3), np.longdouble("1e400")],
    ids=["int", "negative-int", "decimal", "fraction", "longdouble"],
)
def test_a_value_beyond_a_double_raises_at_the_call(
    service: TrackingService, value: object
) -> None:
    run = service.create_run(experiment="exp")
    service.log_metric(run.run_id, "auc", 0.5)
    with pytest.raises(InvalidArgumentError, match=r"Metric 'auc' is .* too large for a double"):
        service.log_metric(run.run_id, "auc", value)
    with pytest.raises(InvalidArgumentError, match="too large for a double"):
        service.log_metrics(run.run_id, {"auc": value})
    assert service.get_run(run.run_id).metrics == {"auc": 0.5}


def test_infinity_written_as_a_decimal_is_still_infinity(service: TrackingService) -> None:
    run = service.create_run(experiment="exp")
    service.log_metric(run.run_id, "m", Decimal("-Infinity"))
    assert service.get_run(run.run_id).metrics == {"m": float("-inf")}


@pytest.mark.parametrize("timestamp", [2**63, -1, 1.5])
def test_a_bad_timestamp_raises_at_the_call(service: TrackingService, timestamp: object) -> None:
    run = service.create_run(experiment="exp")
    with pytest.raises(InvalidArgumentError, match="timestamp of metric 'm' must be"):
        service.log_metric(run.run_id, "m", 1.0, timestamp=timestamp)  # type: ignore[arg-type]


def test_log_batch_checks_every_point_before_writing_any(service: TrackingService) -> None:
    run = service.create_run(experiment="exp")
    points = [MetricPoint("m", float(i), i, 1_000) for i in range(10)]
    points.append(MetricPoint("m", 1.0, 2**63, 1_000))
    with pytest.raises(InvalidArgumentError, match="steps must fit in 64 bits"):
        service.log_batch(run.run_id, metrics=points)
    assert service.get_metric_history(run.run_id, "m") == []


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (10**5000, r"param 'p' \(int\) cannot be turned into text: ValueError"),
        (Unprintable(), r"param 'p' \(Unprintable\) cannot be turned into text: RuntimeError"),
        ("a\x00b", "NUL byte or an unpaired surrogate"),
        ("lone \ud800", "NUL byte or an unpaired surrogate"),
    ],
    ids=["int-of-5001-digits", "str-raises", "nul", "lone-surrogate"],
)
def test_params_and_tags_the_store_cannot_keep_raise_at_the_call(
    service: TrackingService, value: object, match: str
) -> None:
    run = service.create_run(experiment="exp")
    with pytest.raises(InvalidArgumentError, match=match):
        service.log_params(run.run_id, {"ok": 1, "p": value})
    with pytest.raises(InvalidArgumentError, match=match.replace("param", "tag")):
        service.set_tags(run.run_id, {"ok": 1, "p": value})
    stored = service.get_run(run.run_id)
    assert stored.params == {} and stored.tags == {}


def test_an_int_beyond_64_bits_as_a_param_is_kept_as_text(service: TrackingService) -> None:
    run = service.create_run(experiment="exp")
    service.log_params(run.run_id, {"seed": 2**70})
    assert service.get_run(run.run_id).params == {"seed": str(2**70)}


@pytest.mark.parametrize("limit", [2**63, -1, 1.5, True])
def test_a_search_limit_must_fit_in_64_bits(service: TrackingService, limit: object) -> None:
    service.create_run(experiment="exp")
    with pytest.raises(InvalidArgumentError, match="limit must be a non-negative integer"):
        service.search_runs("exp", limit=limit)  # type: ignore[arg-type]


def test_a_refused_point_costs_no_other_point(
    service: TrackingService, caplog: pytest.LogCaptureFixture
) -> None:
    """A point that slipped past validation (added to the writer directly) is refused by the
    real store; every other point of the batch, of its run and of another run, is written."""
    parent = service.create_run(experiment="exp")
    child = service.create_run(experiment="exp", parent_run_id=parent.run_id)
    writer = MetricWriter(service.store, interval=60)  # the interval never fires
    for i in range(GOOD):
        writer.add(parent.run_id, MetricPoint("loss", float(i), i, 1_000 + i))
        writer.add(child.run_id, MetricPoint("loss", float(i), i, 1_000 + i))
        if i == 500:
            writer.add(child.run_id, MetricPoint("bad", 1.0, 2**63, 1_000))
    with caplog.at_level(logging.ERROR, logger="loopml.tracking.writer"):
        writer.flush()
    assert writer.pending == 0
    for run in (parent, child):
        history = service.store.get_metric_history(run.run_id, "loss")
        assert [p.value for p in history] == [float(i) for i in range(GOOD)]
    assert service.store.get_metric_history(child.run_id, "bad") == []
    assert [(r, p.key, p.step) for r, p, _ in writer.rejected] == [(child.run_id, "bad", 2**63)]
    assert "64 bits" in writer.rejected[0][2]
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    message = record.getMessage()
    assert f"1 metric point(s) of run {child.run_id}" in message
    assert "'bad' at step 9223372036854775808" in message
    assert f"The other {2 * GOOD} point(s) of the batch were written" in message
    writer.close()


def test_points_of_a_purged_run_are_reported_and_the_others_written(
    service: TrackingService, caplog: pytest.LogCaptureFixture
) -> None:
    kept = service.create_run(experiment="exp")
    purged = service.create_run(experiment="exp")
    writer = MetricWriter(service.store, interval=60)
    for i in range(100):
        writer.add(kept.run_id, MetricPoint("m", float(i), i, 1_000))
        writer.add(purged.run_id, MetricPoint("m", float(i), i, 1_000))
    service.store.purge_run(purged.run_id)  # another process purges it meanwhile
    with caplog.at_level(logging.ERROR, logger="loopml.tracking.writer"):
        writer.flush()
    assert len(service.store.get_metric_history(kept.run_id, "m")) == 100
    assert {r for r, _, _ in writer.rejected} == {purged.run_id}
    assert len(writer.rejected) == 100
    assert "does not exist" in writer.rejected[0][2]
    assert f"100 metric point(s) of run {purged.run_id}" in caplog.text
    writer.close()


def test_the_issue_script_keeps_every_good_point(tmp_path: Path) -> None:
    """The reproduction from issue 13, in a real process: the bad call raises where it is
    made, the run ends FAILED with that error, and the 1,000 good points are all stored."""
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import loopml
            with loopml.start_run("exp") as run:
                print(run.run_id, flush=True)
                for i in range(1000):
                    run.log_metric("good", float(i), step=i)
                run.log_metric("bad", 1.0, step=2**63)
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env |= {"LOOPML_HOME": str(tmp_path / ".loopml"), "LOOPML_CAPTURE_ENV": "false"}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 1
    assert "InvalidArgumentError: The step of metric 'bad'" in done.stderr
    assert "lost the chance" not in done.stderr and "OverflowError" not in done.stderr
    import loopml

    client = loopml.LoopmlClient(home=tmp_path / ".loopml")
    run = client.get_run(done.stdout.split()[0])
    assert run.status is RunStatus.FAILED and "steps must fit in 64 bits" in (run.error or "")
    assert len(client.get_metric_history(run.run_id, "good")) == GOOD
