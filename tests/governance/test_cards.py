"""Model cards on a real store (SQLite and PostgreSQL): a real scikit-learn model trained on
breast cancer data, a real evaluation with slices and fairness, a gate with a failing rule, an
approval and an alias; the card's figures compared with the store's, its limitations with the
intervals they come from, and both renderings."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from loopml.client import LoopmlClient
from loopml.core.entities import DatasetEvaluation, MetricDelta, SliceResult
from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.core.settings import resolve_settings
from loopml.evaluation.gate_lookup import format_interval, format_value
from loopml.evaluation.gate_rules import higher_is_better
from loopml.governance import ModelCard, compose_card
from loopml.governance.card_limits import _slice_limits
from loopml.governance.cards import check_card_format
from loopml.store.backend import close_cached_backends
from tests.conftest import BACKENDS, PG_SERVER
from tests.rest.live_server import create_pg_database, drop_pg_database

MODEL = "cancer"
DESCRIPTION = "Flags likely malignant tumours <for a second read>"
BINS = [0, 12, 15, 40]


def _frame() -> pd.DataFrame:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    frame = X.iloc[:, :6].copy()
    frame["size"] = (frame["mean radius"] > 14).map({True: "large", False: "small"})
    frame["malignant"] = 1 - y
    return frame


@dataclasses.dataclass
class Store:
    client: LoopmlClient
    train: Any
    valid: Any
    v1: Any
    v2: Any
    evaluation: Any
    decision: Any


@pytest.fixture(scope="module", params=BACKENDS)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """One filled store per backend for the module (its own SQLite file or PG database)."""
    home = tmp_path_factory.mktemp(f"cards-{request.param}") / ".loopml"
    db_url = create_pg_database(PG_SERVER) if request.param == "postgresql" else None
    overrides: dict[str, Any] = {"home": home, "capture_env": False, "user": "card-tester"}
    if db_url is not None:
        overrides["db_url"] = db_url
    try:
        yield _fill(LoopmlClient(settings=resolve_settings(overrides)))
    finally:
        close_cached_backends()
        if db_url is not None:
            drop_pg_database(db_url)


def _fill(client: LoopmlClient) -> Store:
    data = client.datasets.register("cancer-data", _frame(), target="malignant")
    parts = client.datasets.split(data.ref, fractions={"train": 0.7, "valid": 0.3})
    train = client.datasets.load(parts["train"].ref)
    X, y = train.drop(columns="malignant"), train["malignant"]
    numeric = [c for c in X.columns if c != "size"]
    model = make_pipeline(
        make_column_transformer((StandardScaler(), numeric), (OneHotEncoder(), ["size"])),
        LogisticRegression(max_iter=2000),
    ).fit(X, y)
    with client.start_run(experiment="cards") as run:
        run.log_input(parts["train"], role="train")
        v1 = client.models.register(
            model,
            MODEL,
            input_example=X.head(),
            training_data=parts["train"],
            validation_data=parts["valid"],
            description=DESCRIPTION,
            run_id=run.run_id,
        )
    v2 = client.models.register(LogisticRegression(max_iter=2000).fit(X[numeric], y), MODEL,
                                input_example=X[numeric].head())  # fmt: skip
    evaluation = client.evaluations.evaluate(
        v1.ref,
        datasets=[parts["valid"].ref],
        baseline=None,
        slices=[{"column": "mean radius", "bins": BINS}],
        sensitive=["size"],
        resamples=100,
        costs=False,
    )
    policy = {
        "name": "release",
        "rules": [{"metric": "auc", "min": 0.9}, {"metric": "accuracy", "min": 0.99}],
    }
    decision = client.evaluations.gate(v1.ref, policy, evaluation=evaluation)
    client.models.approve(v1.ref, comment="reviewed the slices")
    client.models.set_alias(MODEL, "champion", 1, reason="first release")
    return Store(client, parts["train"], parts["valid"], v1, v2, evaluation, decision)


def _card(store: Store, ref: str) -> ModelCard:
    client = store.client
    return compose_card(
        ref,
        models=client.models,
        evaluations=client.evaluations,
        events=lambda subject: client.events(subject=subject, limit=None),
        clock=lambda: 1_700_000_000_000,
    )


def test_card_figures_are_the_stores(store: Store) -> None:
    card = _card(store, f"{MODEL}@champion")
    registry, client = store.client.models, store.client
    assert card.version == registry.get(f"{MODEL}@1")
    assert card.aliases == ("champion",)
    assert card.run is not None and card.run.run_id == store.v1.run_id
    # training data: the lineage's datasets, training first, with the stored profile
    assert [(d.ref, d.role) for d in card.data] == [
        (store.train.ref, "train"),
        (store.valid.ref, "validation"),
    ]
    train = client.datasets.get(store.train.ref)
    facts = card.data[0]
    assert facts.rows == train.rows and facts.target == "malignant"
    means = {c.name: c.numeric.mean for c in train.profile.columns if c.numeric is not None}
    assert {c.name: c.mean for c in facts.columns if c.mean is not None} == means
    size = next(c for c in facts.columns if c.name == "size")
    frequencies = next(c.frequencies for c in train.profile.columns if c.name == "size")
    assert frequencies is not None
    top = max(frequencies.items(), key=lambda item: item[1])
    assert size.top == f"{top[0]!r} ({top[1]})" and size.categories == 2
    # evaluation: the stored one, its figures unchanged (plot data left out)
    stored = client.evaluations.get(store.evaluation.evaluation_id)
    assert card.evaluations_total == 1
    (shown,) = card.evaluations
    assert shown.evaluation_id == stored.evaluation_id
    assert shown.datasets[0].metrics == stored.datasets[0].metrics
    assert shown.datasets[0].slices == stored.datasets[0].slices
    assert shown.datasets[0].fairness == stored.datasets[0].fairness
    assert shown.datasets[0].curves == {} and stored.datasets[0].curves
    # gate, reviews and alias moves: what the audit log recorded
    assert [g.to_dict() for g in card.gates] == [store.decision.to_dict()]
    assert [(r.status, r.comment) for r in card.reviews] == [("approved", "reviewed the slices")]
    assert card.alias_moves == tuple(registry.alias_history(MODEL))
    assert card.explanations == tuple(registry.explanations(f"{MODEL}@1"))
    assert "permutation" in {e.method for e in card.explanations}  # the evaluation recorded it
    assert card.generated_at == 1_700_000_000_000
    assert ModelCard.from_dict(card.to_dict()) == card  # round-trips through JSON


def test_limitations_come_from_the_store(store: Store) -> None:
    card = _card(store, f"{MODEL}@1")
    kinds = [item.kind for item in card.limitations]
    assert "review" not in kinds  # approved
    assert "fairness" not in kinds  # evaluated with a sensitive column
    (gate,) = [item.text for item in card.limitations if item.kind == "gate"]
    assert "release" in gate and "accuracy >= 0.99" in gate and "auc >= 0.9" not in gate
    ds = store.evaluation.datasets[0]
    slices = {s.name: s for s in (*ds.slices, *ds.worst_slices)}
    flagged = [item.text for item in card.limitations if item.kind == "slice"]
    assert flagged, "the middle bin does clearly worse on this split"
    for text in flagged:  # each names a slice whose stored interval excludes 0, worse side
        name = next(n for n in slices if f"slice {n} " in text)
        assert any(
            (g.high is not None and g.high < 0)
            if higher_is_better(g.name)
            else (g.low is not None and g.low > 0)
            for g in slices[name].gaps
        )
    best = "mean radius in [15, 40]"  # better than all rows on every metric that moves
    assert all(f"slice {best} " not in text for text in flagged)
    data = [item.text for item in card.limitations if item.kind == "data"]
    assert any("mean radius in [" in text and "never saw values outside" in text for text in data)
    assert any("size (2)" in text for text in data)


def test_a_bare_version_says_what_is_missing(store: Store) -> None:
    card = _card(store, f"{MODEL}@2")
    assert card.data == () and card.evaluations == () and card.gates == ()
    kinds = {item.kind for item in card.limitations}
    assert {"review", "evaluation", "data"} <= kinds
    text = card.to_markdown()
    assert "No intended use recorded" in text
    assert "No training data recorded" in text
    assert f"Not gated: `loopml gate {MODEL}@2 POLICY.yaml`" in text
    assert "Not evaluated for fairness" in text
    assert "No explanations recorded." in text
    assert "Never reviewed: pending." in text


def test_markdown_and_html_show_the_figures(store: Store) -> None:
    card = _card(store, f"{MODEL}@1")
    markdown, page = card.to_markdown(), card.to_html()
    assert markdown.startswith(f"# Model card: {MODEL}@1\n")
    assert DESCRIPTION in markdown
    assert "&lt;for a second read&gt;" in page and DESCRIPTION not in page  # escaped
    ds = store.evaluation.datasets[0]
    for metric in ds.metrics:
        assert metric.value is not None
        figure = format_interval(metric.value, metric.low, metric.high)
        assert f"| {metric.name} | {figure} |" in markdown
        assert f"<td>{metric.name}</td><td>{figure}</td>" in page
    for check in store.decision.checks:
        assert check.rule in markdown and check.reason in markdown
    explained = store.client.models.explanations(f"{MODEL}@1")
    assert explained and "## Explanations" in markdown
    for item in explained:
        top = max(item.features, key=lambda f: f.importance)
        row = f"| {top.feature} | {format_value(top.importance)} | {format_value(top.spread)} |"
        assert f"Global importance by {item.method} on {item.dataset}" in markdown
        assert row in markdown
    assert "reviewed the slices" in markdown and "first release" in markdown
    for section in ("intended-use", "data", "evaluation", "fairness", "gates", "limitations",
                    "lineage", "approvals", "explanations"):  # fmt: skip
        assert f'<section id="card-{section}"' in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert card.render("md") == markdown and card.render("html") == page


def test_bad_refs_and_formats_say_so(store: Store) -> None:
    with pytest.raises(NotFoundError, match="Did you mean"):
        _card(store, "cancr@1")
    with pytest.raises(InvalidArgumentError, match=r"'md' or 'html'. Got 'pdf'"):
        check_card_format("pdf")


def _gap(name: str, diff: float, low: float, high: float) -> MetricDelta:
    return MetricDelta(name, candidate=0.8 + diff, baseline=0.8, diff=diff, low=low, high=high)


def test_a_slice_counts_as_worse_only_beyond_its_widened_interval() -> None:
    clear = SliceResult("a = 1", "value", 200, gaps=(_gap("roc_auc", -0.10, -0.15, -0.05),))
    noise = SliceResult("a = 2", "value", 200, gaps=(_gap("roc_auc", -0.10, -0.20, 0.01),))
    loss = SliceResult("a = 3", "value", 200, gaps=(_gap("log_loss", 0.10, 0.05, 0.15),))
    better = SliceResult("a = 4", "value", 200, gaps=(_gap("log_loss", -0.10, -0.15, -0.05),))
    marginal = SliceResult("b = 1", "auto", 90, gaps=(_gap("roc_auc", -0.05, -0.09, -0.002),))
    ds = DatasetEvaluation("d@1", 1000, (), slices=(clear, noise, loss, better))
    found = [text for _, text in _slice_limits(ds, 0.95)]
    assert len(found) == 2
    assert "slice a = 1 " in found[0] and "slice a = 3 " in found[1]
    alone = DatasetEvaluation("d@1", 1000, (), slices=(marginal,))
    assert len(list(_slice_limits(alone, 0.95))) == 1  # one comparison: its own interval
    searched = DatasetEvaluation("d@1", 1000, (), worst_slices=(marginal,), searched=300)
    assert list(_slice_limits(searched, 0.95)) == []  # one of 300 looks: within noise
