"""The closed loop in one script (docs/loop.md), driven by ``loopml.loops.run_once``: new data
triggers a retraining, the gate, a canary, live evidence from served traffic and its delayed
labels (``compare_live``), and a promotion."""

import asyncio

from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import loopml
from loopml.client import LoopmlClient
from loopml.serving import InferenceService, ServeConfig

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
frame = X.iloc[:, :10].copy()
FEATURES = list(frame.columns)
frame["malignant"] = y.to_numpy() == 0
frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)


def train(data: str):
    """The training the policy names (here a function of this script; in a project,
    `my_project.training:train`, or a @loopml.pipeline). It gets the data's ref."""
    rows = loopml.datasets.load(data)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    return model.fit(rows[FEATURES], rows["malignant"])  # the agent registers it


# Today: a weak champion (two uninformative features), deployed.
loopml.datasets.register("tumours", frame.iloc[:150], target="malignant")
loopml.datasets.register("tumours-holdout", frame.iloc[450:], target="malignant")
two = ColumnTransformer([("two", "passthrough", ["mean symmetry", "mean fractal dimension"])])
weak = make_pipeline(two, LogisticRegression()).fit(
    frame.iloc[:150][FEATURES], frame.iloc[:150]["malignant"]
)
champion = loopml.models.register(weak, "tumour", training_data="tumours@1")
loopml.models.approve(champion.ref, comment="the first model")
loopml.models.set_alias("tumour", "champion", 1)
loopml.deployments.create("clinic", champion="tumour@champion")

policy = {  # a YAML file's path works too: loopml.loops.run_once("tumour-loop.yaml")
    "name": "tumour-loop",
    "model": "tumour",
    "deployment": "clinic",
    "triggers": [{"dataset": "tumours"}],
    "train": {"pipeline": "__main__:train", "data": "tumours@latest"},
    "evaluate": {
        "datasets": ["tumours-holdout@latest"],
        "gate": {"name": "offline", "rules": [{"metric": "accuracy", "min": 0.85}]},
    },
    "release": {"mode": "canary", "share": 50},
    "promote": {"min_labeled": 100, "metric": "accuracy"},
    # a bound is shown kept only on enough requests: 0 failures in the canary's ~150
    # requests do not yet show an error rate under 5% (the agent's intervals hold at
    # every look), so a 5% bound would wait for more traffic
    "rollback": {"metric_drop": 0.02, "max_error_rate": 0.1},
}
client = LoopmlClient()


def serve_and_label(rows):
    """Traffic through a server following the deployment, then the diagnoses arrive."""
    config = ServeConfig(deployment="clinic", poll_interval_s=0, compact_interval_s=0,
                         spool_dir=client.settings.home / "spool" / "clinic",
                         logs_url=client.settings.logs_url)  # fmt: skip
    server = InferenceService(client.backend, config)

    async def main():
        for i, row in rows[FEATURES].iterrows():
            await server.predict(row.to_frame().T, key=f"patient-{i}", ids=[f"patient-{i}"])
        await server.stop()

    asyncio.run(main())
    loopml.monitoring.log_labels("tumour", [f"patient-{i}" for i in rows.index], rows["malignant"])


loopml.loops.run_once(policy)  # the policy's first run: from now on, new data triggers it
loopml.datasets.register("tumours", frame.iloc[:300], target="malignant")  # tumours@2
[run] = loopml.loops.run_once(policy)  # trained tumour@2, gated, canary at 50%
assert (run.status, run.step) == ("running", "observe")  # waits for live evidence
print(run.state["evidence"]["reason"])  # Wait on tumour@2 (canary): 0 of 100 labeled rows ...
assert loopml.deployments.get("clinic").canary.ref == "tumour@2"
serve_and_label(frame.iloc[150:450])
[run] = loopml.loops.run_once(policy)  # enough labeled rows on both routes: promoted
assert run.status == "promoted"

for entry in loopml.loops.history("tumour-loop"):
    print(f"{entry.title:>12}  {entry.reason}")
    for line in entry.evidence:
        print(f"{'':>14}· {line}")
assert loopml.models.get("tumour@champion").version == 2
assert loopml.deployments.get("clinic").canary is None
