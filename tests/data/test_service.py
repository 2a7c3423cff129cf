"""Dataset versions end to end on real data and every backend: register, dedupe, load,
batches, splits, diff, lineage."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from loopml.core.entities import DatasetVersion
from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.data import DatasetService


def test_register_and_load_real_flights(datasets: DatasetService, flights: pd.DataFrame) -> None:
    jan = flights[flights["month"] == 1]
    v1 = datasets.register(
        "flights",
        jan,
        target="late",
        timestamp="time_hour",
        key="flight_id",
        description="January 2013",
    )
    assert v1.ref == "flights@1" and v1.rows == len(jan)
    assert v1.schema.target == "late" and v1.schema.key == "flight_id"
    assert v1.schema.column("carrier").role.value == "categorical"
    assert v1.profile.column("dep_delay").nulls == int(jan["dep_delay"].isna().sum())
    back = datasets.load("flights@1")
    pd.testing.assert_frame_equal(back, jan.reset_index(drop=True), check_dtype=False)
    assert datasets.load("flights", output="arrow").num_rows == len(jan)
    assert datasets.load("flights@latest", output="polars").height == len(jan)
    # the same rows again: the same version, not a copy
    again = datasets.register(
        "flights",
        jan.copy(),
        target="late",
        timestamp="time_hour",
        key="flight_id",
        description="January 2013",
    )
    assert again.ref == "flights@1"
    v2 = datasets.register(
        "flights", flights, target="late", timestamp="time_hour", key="flight_id"
    )
    assert v2.ref == "flights@2" and [v.version for v in datasets.versions("flights")] == [1, 2]
    assert datasets.get("flights").ref == "flights@2"
    roundtrip = DatasetVersion.from_dict(json.loads(json.dumps(v2.to_dict(), allow_nan=False)))
    assert roundtrip == v2


def test_register_a_second_real_dataset(
    datasets: DatasetService, lending_club: pd.DataFrame
) -> None:
    v = datasets.register("lending", lending_club, target="Class")
    assert v.rows == len(lending_club) == 9857
    assert v.schema.column("Class").role.value == "target"
    assert set(v.schema.column("Class").categories or ()) == {"good", "bad"}
    assert [v.ref for v in datasets.latest_versions()] == ["lending@1"]


def test_batches_stream_without_loading_everything(
    datasets: DatasetService, flights: pd.DataFrame
) -> None:
    datasets.register("flights", flights)
    sizes = [b.num_rows for b in datasets.iter_batches("flights@1", batch_size=10_000)]
    assert sum(sizes) == len(flights) and max(sizes) <= 10_000 and len(sizes) > 2
    frames = list(datasets.iter_batches("flights@1", batch_size=50_000, output="pandas"))
    assert isinstance(frames[0], pd.DataFrame)


def test_splits_are_deterministic_and_record_parents(
    datasets: DatasetService, flights: pd.DataFrame
) -> None:
    datasets.register("flights", flights, key="flight_id", timestamp="time_hour")
    parts = datasets.split(
        "flights@1", method="random", fractions={"train": 0.8, "test": 0.2}, seed=3
    )
    assert parts["train"].rows + parts["test"].rows == len(flights)
    assert parts["train"].rows == int(len(flights) * 0.8)
    assert parts["train"].parents == ("flights@1",) and parts["train"].split == "train"
    again = datasets.split("flights@1", method="random", seed=3)
    assert again["train"].ref == parts["train"].ref  # same seed, same rows: same version
    # hash split: a row keeps its split across versions (January alone vs. Jan + Feb)
    jan = flights[flights["month"] == 1]
    datasets.register("jan", jan, key="flight_id")
    by_key_all = datasets.split("flights@1", method="hash")
    by_key_jan = datasets.split("jan@1", method="hash")
    train_all = set(datasets.load(by_key_all["train"].ref)["flight_id"])
    train_jan = set(datasets.load(by_key_jan["train"].ref)["flight_id"])
    assert train_jan <= train_all and train_jan
    share = by_key_all["train"].rows / len(flights)
    assert 0.78 < share < 0.82
    # time split at a cutoff
    by_time = datasets.split("flights@1", method="time", cutoff="2013-02-01")
    assert by_time["train"].rows == int((flights["time_hour"] < "2013-02-01").sum())
    children = {v.ref for v in datasets.store.children("flights", 1)}
    assert {parts["train"].ref, by_time["test"].ref} <= children


def test_split_errors(datasets: DatasetService, flights: pd.DataFrame) -> None:
    datasets.register("flights", flights.head(1000))
    with pytest.raises(InvalidArgumentError, match="sum to 1"):
        datasets.split("flights@1", fractions={"train": 0.8, "test": 0.3})
    with pytest.raises(InvalidArgumentError, match="needs column="):
        datasets.split("flights@1", method="hash")
    with pytest.raises(InvalidArgumentError, match="Did you mean 'hash'"):
        datasets.split("flights@1", method="hsah")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="needs a datetime column"):
        datasets.split("flights@1", method="time", column="carrier", cutoff="2013-01-02")


def test_diff_by_key(datasets: DatasetService) -> None:
    old = pd.DataFrame({"id": [1, 2, 3], "x": [1.0, 2.0, 3.0], "gone": ["a", "b", "c"]})
    new = pd.DataFrame({"id": [2, 3, 4], "x": [2.0, 30.0, 4.0], "extra": [1, 1, 1]})
    datasets.register("d", old, key="id")
    datasets.register("d", new, key="id")
    d = datasets.diff("d@1", "d@2")
    assert (d.rows_added, d.rows_removed, d.rows_changed) == (1, 1, 1)
    assert d.added_columns == ("extra",) and d.removed_columns == ("gone",)
    assert (d.old_rows, d.new_rows) == (3, 3)
    datasets.register("e", old)
    datasets.register("e", new)
    assert datasets.diff("e@1", "e@2").rows_changed is None  # no key: no row-level diff


def test_lineage_both_ways(datasets: DatasetService) -> None:
    from loopml.tracking import TrackingService

    tracking = TrackingService(datasets.backend)
    run = tracking.create_run(experiment="exp")
    v = datasets.register("d", pd.DataFrame({"a": [1, 2]}), run_id=run.run_id)
    assert v.run_id == run.run_id
    datasets.log_input(run.run_id, "d@1", "train")
    datasets.log_input(run.run_id, v, "train")  # idempotent
    assert [(x.ref, role) for x, role in datasets.inputs_of(run.run_id)] == [("d@1", "train")]
    assert datasets.runs_using("d@1") == [(run.run_id, "train")]


def test_reference_errors(datasets: DatasetService) -> None:
    datasets.register("credit", pd.DataFrame({"a": [1]}))
    with pytest.raises(NotFoundError, match="Did you mean 'credit'"):
        datasets.get("credti")
    with pytest.raises(NotFoundError, match="no version 7"):
        datasets.get("credit@7")
    with pytest.raises(InvalidArgumentError, match="bad version 'x'"):
        datasets.get("credit@x")
    with pytest.raises(InvalidArgumentError, match="Dataset name 'a b' is not valid"):
        datasets.register("a b", pd.DataFrame({"a": [1]}))
    with pytest.raises(InvalidArgumentError, match="output must be one of"):
        datasets.load("credit", output="numpy")  # type: ignore[arg-type]


def test_nothing_half_registered_on_bad_input(datasets: DatasetService) -> None:
    with pytest.raises(InvalidArgumentError, match="key column 'id' is not in the table"):
        datasets.register("bad", pd.DataFrame({"a": [1]}), key="id")
    with pytest.raises(NotFoundError, match="bad"):
        datasets.versions("bad")


def test_validate_against_a_saved_version_or_schema(
    datasets: DatasetService, flights: pd.DataFrame, tmp_path: Path
) -> None:
    jan = flights[flights["month"] == 1]
    feb = flights[flights["month"] == 2].drop(columns=["dep_delay"])
    v = datasets.register("flights", jan, target="late")
    saved = tmp_path / "flights.json"
    saved.write_text(json.dumps(v.to_dict(), allow_nan=False))
    from_file = datasets.validate(feb, against=saved)
    from_store = datasets.validate(feb, against="flights@1")
    assert from_file.anomalies == from_store.anomalies and not from_file.ok
    schema_only = tmp_path / "schema.json"
    schema_only.write_text(json.dumps(v.schema.to_dict()))
    report = datasets.validate(feb, against=str(schema_only))
    kinds = {a.kind for a in report.anomalies}
    assert "missing_column" in kinds and "distribution_shift" not in kinds  # no profile given
    assert datasets.validate(jan, against=v.schema).ok
    (tmp_path / "junk.json").write_text("{}")
    with pytest.raises(InvalidArgumentError, match="not a saved dataset version or schema"):
        datasets.validate(feb, against=tmp_path / "junk.json")


def test_diffs_on_real_data(
    datasets: DatasetService, flights: pd.DataFrame, lending_club: pd.DataFrame
) -> None:
    jan = flights[flights["month"] == 1]
    datasets.register("flights", jan, key="flight_id")
    changed = flights.copy()
    changed.loc[changed.index[:25], "arr_delay"] += 1  # 25 January rows revised
    datasets.register("flights", changed, key="flight_id")
    d = datasets.diff("flights@1", "flights@2")
    assert d.rows_added == len(flights) - len(jan) and d.rows_removed == 0
    assert d.rows_changed == 25
    loans = lending_club.reset_index(names="loan_id")
    datasets.register("loans", loans.iloc[:9000], key="loan_id", target="Class")
    datasets.register(
        "loans", loans.iloc[500:].drop(columns=["emp_length"]), key="loan_id", target="Class"
    )
    d = datasets.diff("loans@1", "loans@2")
    assert (d.rows_added, d.rows_removed, d.rows_changed) == (857, 500, 0)
    assert d.removed_columns == ("emp_length",)


def test_odd_column_names_survive_every_step(datasets: DatasetService) -> None:
    frame = pd.DataFrame(
        {
            'say "hi"': [1.0, 2.0, 3.0, 4.0],
            "two words": ["a", "b", "a", "b"],
            "semi;colon": [True, False, True, False],
            "id": [1, 2, 3, 4],
        }
    )
    v = datasets.register("odd", frame, key="id")
    assert v.schema.names == ('say "hi"', "two words", "semi;colon", "id")
    assert datasets.validate(frame, against="odd@1").ok
    parts = datasets.split("odd@1", method="hash", fractions={"train": 0.5, "test": 0.5})
    assert sum(p.rows for p in parts.values()) == 4
    changed = frame.assign(**{'say "hi"': [1.0, 2.0, 3.0, 5.0]})
    datasets.register("odd", changed, key="id")
    assert datasets.diff("odd@1", "odd@2").rows_changed == 1


def test_registrations_are_audited_once(datasets: DatasetService) -> None:
    from loopml.tracking import TrackingService

    run = TrackingService(datasets.backend).create_run(experiment="exp")
    frame = pd.DataFrame({"id": range(50), "x": [i * 0.5 for i in range(50)]})
    v = datasets.register("audited", frame, key="id", run_id=run.run_id, description="first cut")
    datasets.register("audited", frame.copy(), key="id")  # same rows: no new version, no event
    parts = datasets.split("audited@1", fractions={"train": 0.6, "test": 0.4}, seed=2)
    events = datasets.backend.events.list_events(kind="dataset.registered")
    assert [e.subject for e in events] == [
        "dataset:audited@1",
        "dataset:audited-train@1",
        "dataset:audited-test@1",
    ]
    first = events[0]
    assert first.links == {"run": run.run_id} and first.reason == "first cut"
    assert first.data["rows"] == 50 and first.data["content_hash"] == v.content_hash
    assert first.at == v.created_at and first.actor == v.created_by
    assert events[1].links == {"parent": "audited@1"} and events[1].data["split"] == "train"
    assert parts["test"].ref == "audited-test@1"
    only_train = datasets.backend.events.list_events(subject_prefix="dataset:audited-train@")
    assert [e.subject for e in only_train] == ["dataset:audited-train@1"]
