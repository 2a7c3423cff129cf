"""The second user of issue 18's closing test: run in a process of its own with only the team
server's URL and an editor's token (``LOOPML_SERVER_URL``, ``LOOPML_TOKEN``; no database URL,
no artifact location), it does what the tracking, datasets, registry and evaluation pages
describe, through the public SDK and the CLI, and writes what it saw to a JSON file that the
test (the first process) checks against what the server holds.

Usage: ``python -m tests.e2e.second_user PREFIX FACTS.json`` (in an empty working folder).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import loopml
from loopml.cli import main as cli_main
from loopml.core.entities import MetricPoint
from loopml.errors import PermissionDeniedError

FEATURES = ["radius", "texture", "perimeter", "area", "smoothness", "compactness"]
TIMES: dict[str, float] = {}


def cli(*args: str) -> tuple[int, str, str]:
    """``loopml ARGS`` as a user types it (the CLI's own entry point, in this process)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(list(args))
    return code, out.getvalue(), err.getvalue()


def cli_json(*args: str) -> Any:
    """``loopml ARGS --json``, which must succeed, parsed."""
    code, out, err = cli(*args, "--json")
    if code != 0:
        raise RuntimeError(f"loopml {' '.join(args)} exited {code}: {err}")
    return json.loads(out)


def cancer() -> pd.DataFrame:
    """Breast cancer (scikit-learn's bundled copy): six features, the target, a row key."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    frame = X.iloc[:, :6].copy()
    frame.columns = FEATURES
    frame["target"] = y
    frame.insert(0, "id", np.arange(len(frame)))
    return frame


def datasets_stage(prefix: str, facts: dict[str, Any]) -> dict[str, Any]:
    """Register, inspect, validate, split and diff a real dataset."""
    frame = cancer()
    name = f"{prefix}-cancer"
    first = loopml.datasets.register(name, frame.iloc[:400], target="target", key="id")
    again = loopml.datasets.register(name, frame.iloc[:400], target="target", key="id")
    second = loopml.datasets.register(name, frame, target="target", key="id")
    got = loopml.datasets.get(first.ref)
    radius = got.profile.column("radius").numeric if got.profile is not None else None
    shown = cli_json("data", "show", second.ref)
    recent = frame.iloc[400:].reset_index(drop=True)
    good = loopml.datasets.validate(recent, against=first.ref)
    Path("reference.json").write_text(json.dumps(cli_json("data", "show", first.ref)))
    saved = loopml.datasets.validate(recent, against="reference.json")  # no server needed
    checks = pa.DataFrameSchema({"radius": pa.Column(checks=pa.Check.in_range(0, 20))})
    expected = loopml.datasets.validate(recent, against=first.ref, expectations=checks)
    bad_batch = recent.drop(columns="texture").astype({"radius": str})  # text where numbers were
    bad_batch.loc[3, "radius"] = "n/a"
    bad = loopml.datasets.validate(bad_batch, against=first.ref)
    Path("bad.csv").write_text(bad_batch.to_csv(index=False))
    code, out, err = cli("data", "validate", "bad.csv", "--against", first.ref)
    parts = loopml.datasets.split(
        second.ref, method="random", fractions={"train": 0.75, "test": 0.25}, seed=7
    )
    parts_again = loopml.datasets.split(
        second.ref, method="random", fractions={"train": 0.75, "test": 0.25}, seed=7
    )
    diff = loopml.datasets.diff(first.ref, second.ref)
    cli_diff = cli_json("data", "diff", first.ref, second.ref)
    recent.to_csv("recent.csv", index=False)
    registered = cli(
        "data", "register", f"{prefix}-recent", "recent.csv", "--target", "target", "--key", "id"
    )
    recent_version = loopml.datasets.get(f"{prefix}-recent@latest")
    hashed = loopml.datasets.split(second.ref, method="hash")
    hashed_again = loopml.datasets.split(second.ref, method="hash")
    batches = [b.num_rows for b in loopml.datasets.iter_batches(second.ref, batch_size=200)]
    arrow = loopml.datasets.load(first.ref, output="arrow")
    code_l, listed, _ = cli("data", "list")
    code_p, profiled, err_p = cli("data", "profile", first.ref)
    events = cli_json("events", "list", "--subject", f"dataset:{name}@")
    with loopml.start_run(experiment=f"{prefix}-exp", name="ingest") as ingest:
        inside = loopml.datasets.register(f"{prefix}-inside", frame.iloc[:50], target="target")
    facts["datasets_extra"] = {
        "hash_split": [
            {k: v.ref for k, v in hashed.items()},
            {k: v.ref for k, v in hashed_again.items()},
        ],
        "hash_rows": sum(v.rows for v in hashed.values()),
        "batches": batches,
        "arrow_rows": arrow.num_rows,
        "cli_list": [code_l, name in listed],
        "cli_profile": [code_p, "radius" in profiled, err_p],
        "events": [(e["kind"], e["subject"], e["actor"]) for e in events],
        "inside_run": [inside.run_id, ingest.run_id],
    }
    facts["datasets"] = {
        "name": name,
        "first": first.ref,
        "again": again.ref,
        "second": second.ref,
        "rows": [first.rows, second.rows],
        "radius_max": float(frame["radius"].iloc[:400].max()),
        "profile_radius_max": None if radius is None else radius.max,
        "schema_columns": [c.name for c in got.schema.columns],
        "cli_show_rows": shown.get("rows"),
        "good_ok": good.ok,
        "saved_ok": saved.ok,
        "expectations": sorted({a.kind for a in expected.anomalies if a.severity == "error"}),
        "bad_ok": bad.ok,
        "bad_kinds": sorted({a.kind for a in bad.anomalies if a.severity == "error"}),
        "cli_validate": [code, out, err],
        "split": {k: v.ref for k, v in parts.items()},
        "split_again": {k: v.ref for k, v in parts_again.items()},
        "split_rows": {k: v.rows for k, v in parts.items()},
        "split_parents": {k: list(v.parents) for k, v in parts.items()},
        "diff_rows_added": diff.rows_added,
        "cli_diff_rows_added": cli_diff.get("rows_added"),
        "recent": recent_version.ref,
        "cli_register": list(registered),
        "recent_rows": recent_version.rows,
    }
    return {"frame": frame, "parts": parts, "recent": recent_version}


def tracking_stage(prefix: str, facts: dict[str, Any], data: dict[str, Any]) -> float:
    """An experiment of nested runs: params, metrics (buffered and batched, with steps), tags,
    artifacts, search, compare; a failed run. Returns the best run's ``C``."""
    experiment = f"{prefix}-exp"
    train = loopml.datasets.load(data["parts"]["train"].ref)
    test = loopml.datasets.load(data["parts"]["test"].ref)
    X, y = train[FEATURES], train["target"]
    Xt, yt = test[FEATURES], test["target"]
    Path("plots").mkdir()
    Path("plots/roc.txt").write_text("roc curve points\n")
    Path("plots/sub").mkdir()
    Path("plots/sub/pr.txt").write_text("pr curve points\n")
    Path("notes.md").write_text("# notes\n")
    logged: dict[str, Any] = {"children": {}}
    with loopml.start_run(experiment=experiment, name="sweep", tags={"team": "risk"}) as parent:
        parent.log_input(data["parts"]["train"], role="train")
        parent.log_input(data["parts"]["test"], role="eval")
        for c in (0.01, 1.0):
            with loopml.start_run(name=f"C={c}") as child:
                model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=500))
                model.fit(X, y)
                scores = model.predict_proba(Xt)[:, 1]
                auc = float(roc_auc_score(yt, scores))
                accuracy = float(accuracy_score(yt, model.predict(Xt)))
                child.log_params({"C": c, "max_iter": 500})
                curve = [1.0 / (step + 1) + c for step in range(20)]
                for step, loss in enumerate(curve):
                    loopml.log_metric("loss", loss, step=step)  # buffered
                child.log_batch(
                    metrics=[
                        MetricPoint("grad", float(g), i, 1_700_000_000_000 + i)
                        for i, g in enumerate(np.linspace(1.0, 0.1, 5))
                    ],
                    tags={"batch": "yes"},
                )
                child.log_metrics({"auc": auc, "accuracy": accuracy})
                child.set_tag("stage", "candidate")
                child.log_artifact("notes.md")
                child.log_artifact("plots")
                child.log_dict({"C": c, "features": FEATURES}, "config.json")
                logged["children"][child.run_id] = {
                    "C": c,
                    "auc": auc,
                    "accuracy": accuracy,
                    "loss": curve,
                }
        loopml.end_run()  # the parent, explicitly (the block's end is then a no-op)
    try:
        with loopml.start_run(experiment=experiment, name="broken") as failed:
            loopml.log_metric("partial", 0.5)
            raise ValueError("diverged at step 3")
    except ValueError:
        pass
    as_failed = loopml.get_run(failed.run_id)
    code_x, experiments, _ = cli("experiments", "list")
    cli_delete = cli("runs", "delete", failed.run_id)
    try:
        loopml.LoopmlClient().delete_run(failed.run_id)
        deleted: list[str] | None = None
    except PermissionDeniedError as exc:
        deleted = [type(exc).__name__, str(exc)]
    children = loopml.search_runs(
        experiment, filter=f"parent_run_id = '{parent.run_id}'", output="runs"
    )
    found = loopml.search_runs(
        experiment,
        filter="metrics.auc > 0.9 and params.C = '1.0' and tags.stage = 'candidate'",
        order_by=["metrics.auc desc"],
        output="runs",
    )
    frame = loopml.search_runs(experiment, order_by=["metrics.auc desc"])
    best_id = max(logged["children"], key=lambda r: logged["children"][r]["auc"])
    ids = list(logged["children"])
    code, compared, err = cli("runs", "compare", *ids)
    listed = cli_json("runs", "list", "-e", experiment, "-f", "status = 'FAILED'")
    with loopml.start_run(run_id=failed.run_id) as resumed:  # a FAILED run is reopened
        resumed.log_artifact(data["frame"].head(10), name="head.parquet")
        resumed.log_artifact(b"\x00\x01weights", name="weights.bin", artifact_path="raw")
        resumed.log_dict({"why": "resumed", "steps": [1, 2]}, "resume.yaml")
        loopml.log_metric("partial", 0.75, step=1)
    artifacts = cli_json("runs", "artifacts", failed.run_id)
    shown = cli_json("runs", "show", failed.run_id)
    history = cli_json("runs", "metrics", best_id, "loss")
    Path("downloaded").mkdir()
    code_dl, _, err_dl = cli("runs", "artifacts", best_id, "plots", "--download", "downloaded")
    client = loopml.LoopmlClient()
    facts["tracking"] = {
        "experiment": experiment,
        "parent": parent.run_id,
        "failed": failed.run_id,
        "as_failed": [str(as_failed.status), as_failed.error, dict(as_failed.metrics)],
        "children": logged["children"],
        "found_by_parent": sorted(r.run_id for r in children),
        "found_by_filter": [r.run_id for r in found],
        "frame_first": str(frame["run_id"].iloc[0]),
        "frame_columns": sorted(frame.columns),
        "compare": [code, compared, err],
        "cli_failed": [row["run_id"] for row in listed],
        "cli_history": history,
        "downloaded": sorted(
            str(p.relative_to("downloaded")) for p in Path("downloaded").rglob("*") if p.is_file()
        ),
        "download_cli": [code_dl, err_dl],
        "read_back_notes": client.read_artifact(best_id, "notes.md").decode(),
        "inputs_of_parent": sorted(
            (v.ref, role) for v, role in loopml.datasets.inputs_of(parent.run_id)
        ),
        "resumed": [
            shown.get("status"),
            sorted(shown.get("metrics", {})),
            sorted(a["path"] for a in artifacts),
        ],
        "resumed_head": len(
            pd.read_parquet(io.BytesIO(client.read_artifact(failed.run_id, "head.parquet")))
        ),
        "resumed_bin": client.read_artifact(failed.run_id, "raw/weights.bin").hex(),
        "experiments_cli": [code_x, experiment in experiments],
        "delete_refused": deleted,
        "cli_delete": list(cli_delete),
        "runs_using_train": sorted(
            (str(r), role) for r, role in loopml.datasets.runs_using(data["parts"]["train"].ref)
        ),
    }
    return float(logged["children"][best_id]["C"])


def registry_stage(
    prefix: str, facts: dict[str, Any], data: dict[str, Any], best_c: float
) -> dict[str, Any]:
    """Train the final model in a run and register it there (signature from an example and
    the training dataset, lineage to the run and the datasets), load it back and predict, move
    a free alias, and be refused the approver's actions (SDK and CLI) with nothing changed."""
    name = f"{prefix}-clf"
    train_ref, test_ref = data["parts"]["train"].ref, data["parts"]["test"].ref
    train = loopml.datasets.load(train_ref)
    test = loopml.datasets.load(test_ref)
    with loopml.start_run(experiment=f"{prefix}-exp", name="final") as run:
        run.log_params({"C": best_c})
        model = make_pipeline(StandardScaler(), LogisticRegression(C=best_c, max_iter=500))
        model.fit(train[FEATURES], train["target"])
        version = run.log_model(
            model,
            name,
            input_example=train[FEATURES].head(5),
            training_data=train_ref,
            validation_data=test_ref,
            description="logistic regression on six features",
        )
    loaded = loopml.models.load(version.ref)
    predicted = loaded.predict(test[FEATURES])
    proba = loaded.predict_proba(test[FEATURES])
    lineage = loopml.models.lineage(version.ref)
    shown_lineage = cli_json("models", "lineage", version.ref)
    moved = loopml.models.set_alias(name, "challenger", version.version, reason="first try")
    refused: dict[str, Any] = {}
    for what, call in {
        "approve": lambda: loopml.models.approve(version.ref, comment="mine"),
        "champion": lambda: loopml.models.set_alias(name, "champion", version.version),
    }.items():
        try:
            call()
        except PermissionDeniedError as exc:
            refused[what] = [type(exc).__name__, str(exc)]
        else:
            refused[what] = None
    refused["cli_approve"] = list(cli("models", "approve", version.ref, "-m", "mine"))
    refused["cli_champion"] = list(
        cli("models", "alias", name, "champion", str(version.version), "-r", "mine")
    )
    with loopml.start_run(experiment=f"{prefix}-exp", name="weaker") as weak_run:
        weak = make_pipeline(StandardScaler(), LogisticRegression(C=0.001, max_iter=500))
        weak.fit(train[FEATURES], train["target"])
        second = weak_run.log_model(
            weak, name, input_example=train[FEATURES].head(5), training_data=train_ref
        )
    loopml.models.set_alias(name, "challenger", second.version, reason="try the weaker one")
    back = loopml.models.rollback(name, alias="challenger", reason="weaker is worse")
    loopml.models.set_alias(name, "staging", second.version)
    removed = loopml.models.remove_alias(name, "staging", reason="done")
    history = loopml.models.alias_history(name, "challenger")
    manifest = loopml.models.manifest(version.ref)
    from_data = loopml.models.models_from_dataset(train_ref)
    code_v, cli_versions, _ = cli("models", "versions", name)
    cli_show = cli_json("models", "show", version.ref)
    cli_from_data = cli_json("models", "lineage", "--dataset", train_ref)
    facts["registry_extra"] = {
        "second": second.ref,
        "rollback": [back.alias, back.from_version, back.to_version, back.rollback],
        "removed": [removed.alias, removed.from_version, removed.to_version],
        "history": [(m.from_version, m.to_version, m.actor) for m in history],
        "manifest": [manifest.flavor, sorted(f.path for f in manifest.files)],
        "from_data": sorted((v.ref, role) for v, role in from_data),
        "cli_versions": [code_v, second.ref.split("@")[1] in cli_versions],
        "cli_show": sorted(cli_show)[:20],
        "cli_from_data": cli_from_data,
    }
    after = loopml.models.get(version.ref)
    aliases = {m.name: dict(m.aliases) for m in loopml.models.list_models()}.get(name, {})
    facts["registry"] = {
        "name": name,
        "ref": version.ref,
        "run_id": run.run_id,
        "signature": [c.name for c in version.signature.inputs],
        "classes": list(version.signature.output.classes),
        "training_data": version.training_data,
        "validation_data": version.validation_data,
        "lineage_run": None if lineage.run is None else lineage.run.run_id,
        "lineage_cli": shown_lineage,
        "predictions_equal": bool(np.array_equal(predicted, model.predict(test[FEATURES]))),
        "proba_max_diff": float(
            np.abs(proba.to_numpy() - model.predict_proba(test[FEATURES])).max()
        ),
        "n_predicted": len(predicted),
        "challenger": [moved.alias, moved.to_version, moved.actor],
        "refused": refused,
        "approval_after": str(after.approval),
        "aliases_after": aliases,
    }
    return {"version": version, "model": model}


def evaluation_stage(
    prefix: str, facts: dict[str, Any], data: dict[str, Any], registered: dict[str, Any]
) -> None:
    """Evaluate the version on two datasets with slices, gate it, read the report back."""
    version, model = registered["version"], registered["model"]
    datasets = [data["parts"]["test"].ref, data["recent"].ref]
    evaluation = loopml.evaluate(
        version.ref,
        datasets=datasets,
        slices=[{"column": "radius", "bins": 2}, {"name": "large", "where": "area > 700"}],
        baseline=None,
        resamples=200,
        worst_slices=2,
        min_support=30,
        costs=False,
    )
    policy = {
        "name": "release",
        "rules": [
            {"metric": "auc", "min": 0.9, "use": "low"},
            {"metric": "accuracy", "min": 0.85},
            {"slices": {"metric": "auc", "min_support": 30, "max_drop": 0.5, "versus": "overall"}},
        ],
    }
    decision = loopml.gate(version.ref, policy, evaluation=evaluation)
    stored = loopml.get_evaluation(evaluation.evaluation_id[:8])
    listed = [r.evaluation_id for r in loopml.list_evaluations(version.ref)]
    report = loopml.evaluation_report(evaluation, "report.html", decision=decision)
    shown = cli_json("evaluations", "show", evaluation.evaluation_id[:8])
    Path("gate.yaml").write_text(json.dumps(policy))  # JSON is YAML
    gated = cli(
        "gate", version.ref, "--policy", "gate.yaml", "--evaluation", shown["evaluation_id"]
    )
    against = loopml.evaluate(
        version.ref,
        datasets=datasets[:1],
        baseline=f"{version.name}@2",
        resamples=100,
        worst_slices=0,
        costs=False,
        metrics=["auc", "accuracy"],
    )
    delta = against.dataset(datasets[0].split("@")[0]).delta("roc_auc")
    code_e, evaluated, err_e = cli(
        "evaluate",
        version.ref,
        "-d",
        datasets[1],
        "-s",
        "radius:2",
        "-s",
        "large=area > 700",
        "--resamples",
        "100",
        "--metric",
        "auc",
        "--json",
    )
    cli_listed = cli_json("evaluations", "list", version.name)
    code_r, _, err_r = cli("evaluations", "report", evaluation.evaluation_id, "-o", "cli.html")
    facts["evaluation_extra"] = {
        "delta": None if delta is None else [delta.candidate, delta.baseline, delta.diff],
        "cli_evaluate": [
            code_e,
            json.loads(evaluated).get("evaluation_id") if code_e == 0 else evaluated,
            err_e,
        ],
        "cli_listed": len(cli_listed),
        "cli_report": [code_r, Path("cli.html").exists(), err_r],
    }
    expected = {}
    for ref in datasets:
        frame = loopml.datasets.load(ref)
        scores = model.predict_proba(frame[FEATURES])[:, 1]
        expected[ref.split("@")[0]] = {
            "roc_auc": float(roc_auc_score(frame["target"], scores)),
            "accuracy": float(accuracy_score(frame["target"], model.predict(frame[FEATURES]))),
        }
    facts["evaluation"] = {
        "id": evaluation.evaluation_id,
        "datasets": {
            name: {
                metric: evaluation.dataset(name).metric(metric).value
                for metric in ("roc_auc", "accuracy")
            }
            for name in expected
        },
        "slices": {name: [s.name for s in evaluation.dataset(name).slices] for name in expected},
        "expected": expected,
        "gate": [decision.passed, [c.passed for c in decision.checks]],
        "stored_equal": stored == evaluation,
        "listed": listed,
        "report": [report.name, report.stat().st_size, Path("report.json").exists()],
        "cli_show_id": shown.get("evaluation_id"),
        "cli_gate": list(gated),
    }


def main() -> None:
    prefix, out = sys.argv[1], Path(sys.argv[2])
    os.environ.setdefault("COLUMNS", "200")  # the width of a terminal: tables print whole
    facts: dict[str, Any] = {"env": sorted(k for k in os.environ if k.startswith("LOOPML_"))}
    started = time.perf_counter()
    facts["doctor"] = list(cli("doctor"))
    data = datasets_stage(prefix, facts)
    TIMES["datasets"] = time.perf_counter() - started
    best_c = tracking_stage(prefix, facts, data)
    TIMES["tracking"] = time.perf_counter() - started
    registered = registry_stage(prefix, facts, data, best_c)
    TIMES["registry"] = time.perf_counter() - started
    evaluation_stage(prefix, facts, data, registered)
    TIMES["evaluation"] = time.perf_counter() - started
    facts["times"] = TIMES
    out.write_text(json.dumps(facts, indent=1, default=str))


if __name__ == "__main__":
    main()
