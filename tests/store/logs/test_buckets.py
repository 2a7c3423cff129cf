"""traffic_buckets: one model's log counted per time bucket, route and version, in DuckDB,
checked against the rows read back with read_log and counted in NumPy."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from loopml.core.errors import InvalidArgumentError
from loopml.store.logs import PredictionLog, PredictionRecord, compact, read_log, write_records
from loopml.store.logs.buckets import BUCKET_COLUMNS, bucket_width, traffic_buckets

T0 = 1_700_000_040_000  # a multiple of a minute
MINUTE = 60_000


def _records(count: int, seed: int = 0) -> list[PredictionRecord]:
    """``count`` rows over 10 minutes: champion and canary by request (5 rows each), some
    fallbacks and errors, latencies drawn at random, event times a year earlier."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(count):
        request = i // 5
        route = "canary" if request % 4 == 0 else "champion"
        if request % 10 == 3:
            route = "fallback"
        at = T0 + int(request * 5 * 10 * MINUTE / count)  # a request's rows arrive together
        records.append(
            PredictionRecord(
                prediction_id=f"{i:032x}",
                model="churn",
                version=0 if route == "fallback" else (4 if route == "canary" else 3),
                route=route,
                at=at,
                latency_ms=float(rng.gamma(2.0, 20.0)),
                inputs={"x": i},
                output=1,
                request_key=f"r{request}",
                error="timeout" if request % 17 == 5 else None,
                event_at=at - 365 * 86_400_000,
            )
        )
    return records


def test_buckets_match_the_rows_read_back(tmp_path: Path) -> None:
    store = str(tmp_path / "logs")
    write_records(store, _records(3000))
    table = traffic_buckets(store, model="churn", buckets=10)
    assert tuple(table.column_names) == BUCKET_COLUMNS
    assert set(table.column("width_ms").to_pylist()) == {MINUTE}  # 10 minutes in 10 buckets
    log = read_log(store, model="churn")
    at = log.column("at").cast("int64").to_numpy()
    routes = np.array(log.column("route").to_pylist())
    latency = log.column("latency_ms").to_numpy()
    keys = np.array(log.column("request_key").to_pylist())
    errors = np.array([e is not None for e in log.column("error").to_pylist()])
    assert sum(table.column("rows").to_pylist()) == 3000
    for row in table.to_pylist():
        mine = (at // MINUTE * MINUTE == row["start"]) & (routes == row["route"])
        assert row["rows"] == mine.sum() > 0
        assert row["requests"] == len(set(zip(keys[mine], at[mine], strict=True)))
        assert row["requests"] == len(set(keys[mine]))  # a key per request here
        assert row["errors"] == errors[mine].sum()
        for q in (50, 95):  # a row's value (exact below 8,192 rows), at the quantile's rank
            shown = row[f"latency_p{q}_ms"]
            assert shown in set(latency[mine])
            low, high = np.percentile(latency[mine], [q - 3, q + 3])
            assert low <= shown <= high
    assert {r["route"]: r["version"] for r in table.to_pylist()} == {
        "champion": 3,
        "canary": 4,
        "fallback": 0,
    }


def test_event_time_axis_since_and_no_rows(tmp_path: Path) -> None:
    store = str(tmp_path / "logs")
    assert traffic_buckets(store, model="churn").num_rows == 0  # nothing logged yet
    write_records(store, _records(600))
    by_event = traffic_buckets(store, model="churn", time="event", buckets=10)
    assert min(by_event.column("start").to_pylist()) == T0 - 365 * 86_400_000
    late = traffic_buckets(store, model="churn", since=T0 + 5 * MINUTE, buckets=10)
    assert sum(late.column("rows").to_pylist()) == 300
    assert traffic_buckets(store, model="other").num_rows == 0


def test_spool_rows_count_once(tmp_path: Path) -> None:
    root, store = tmp_path / "spool", str(tmp_path / "logs")
    records = _records(200)
    done = PredictionLog(root / "churn-1")
    done.append_many(records[:150])
    done.close()
    (sealed,) = (root / "churn-1").glob("seg-*")
    shutil.copy(sealed, tmp_path / "copy")
    compact(root / "churn-1", store)
    shutil.copy(tmp_path / "copy", sealed)  # compacted and still in the spool: counted once
    live = PredictionLog(root / "churn-2")
    live.append_many(records[150:])
    live.flush()
    table = traffic_buckets(store, model="churn", spool_dirs=[root])
    assert sum(table.column("rows").to_pylist()) == 200
    stored = traffic_buckets(store, model="churn")
    assert sum(stored.column("rows").to_pylist()) == 150
    live.close()


def test_widths_are_round_and_bounded() -> None:
    assert bucket_width(T0, T0 + 10 * MINUTE - 1, 10) == MINUTE
    assert bucket_width(T0, T0 + 10 * MINUTE, 10) == 2 * MINUTE  # 11 minutes touched
    assert bucket_width(0, 10 * 365 * 86_400_000, 5) == 365 * 86_400_000  # the largest


def test_bad_arguments_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"time='wall'; use one of \['event', 'rec"):
        traffic_buckets(str(tmp_path), model="churn", time="wall")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="buckets=0; use a count from 1 to 2000"):
        traffic_buckets(str(tmp_path), model="churn", buckets=0)


def test_rows_of_a_route_in_a_bucket_are_one_row_per_version(tmp_path: Path) -> None:
    store = str(tmp_path / "logs")
    records = _records(100)
    write_records(store, records)
    write_records(
        store,
        [
            PredictionRecord(
                prediction_id=f"{1000 + i:032x}",
                model="churn",
                version=5,
                route="champion",
                at=T0 + i,
                latency_ms=1.0,
                inputs={"x": i},
                output=1,
            )
            for i in range(3)
        ],
    )
    table = traffic_buckets(store, model="churn", buckets=1)
    champion = table.filter(pc.equal(table.column("route"), "champion"))
    assert (
        dict(
            zip(
                champion.column("version").to_pylist(),
                champion.column("rows").to_pylist(),
                strict=True,
            )
        )[5]
        == 3
    )


def test_several_models_share_one_bucket_width(tmp_path: Path) -> None:
    store = str(tmp_path / "logs")
    write_records(store, _records(100))  # churn: 10 minutes
    later = [
        PredictionRecord(
            prediction_id=f"{5000 + i:032x}",
            model="churn-v2",
            version=1,
            route="canary",
            at=T0 + 50 * MINUTE + i * MINUTE,
            latency_ms=2.0,
            inputs={"x": i},
            output=1,
        )
        for i in range(10)
    ]
    write_records(store, later)
    alone = traffic_buckets(store, model="churn-v2", buckets=10)
    assert set(alone.column("width_ms").to_pylist()) == {MINUTE}
    both = traffic_buckets(store, model=["churn", "churn-v2"], buckets=10)
    assert set(both.column("width_ms").to_pylist()) == {10 * MINUTE}  # an hour in 10 buckets
    assert sum(both.column("rows").to_pylist()) == 110
