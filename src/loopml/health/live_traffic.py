"""The live traffic of a champion and a challenger, read from the prediction log for
:func:`loopml.health.live_comparison.compare_live`.

What each side is:

- **Its version**: the one given, else the version its route served last.
- **Its rows** (``rows``): the rows it answered on its route, plus the rows routed to it that
  the fallback answered instead. A fallback row's ``error`` names the version the request was
  routed to (``late@3 failed: ValueError``, ``late@3 missed its 100 ms deadline``,
  ``guardrail '...' broken by 1 row(s): ...; routed to late@3``): failures and missed
  deadlines count as errors, guardrails as guardrail fallbacks, both as fallbacks.
- **The same traffic**: both sides from the challenger's first row on (event time), so the
  champion's earlier traffic (another season, another mix) does not enter the comparison. A
  shadow's span starts at the champion's row its first row is paired with, when earlier (rows
  sent without event times are stamped when scored, and a shadow scores after the answer).
- **Its labeled rows** (``y``, ``pred``, ``score``): the rows it answered whose label
  arrived (joined by row id as monitoring does), the label and prediction as class indices
  (a classifier) or numbers (a regressor), the logged class probabilities when every class
  has its ``p.<class>`` column.
- **Its requests**: routing picks a route per request (per routing key when the caller sends
  one), so a request's rows share their fate: one route, one failure, often one hour of
  traffic. Rows of one request share their receipt time and latency in the log; they (or
  the rows of one routing key) form one group, resampled together by the bootstrap, and the
  rates are shares of requests, not of rows.
- **A shadow** scored the same requests as the champion after the answer: its rows are paired
  with the champion's by the caller's row id (the only id both rows carry), so both sides
  hold the same labeled rows in the same order. A shadow's failures are not logged (its
  answers are never served), so it has no rates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from loopml.health.log_source import class_text, joined_labels
from loopml.health.model_side import label_index

if TYPE_CHECKING:
    import pyarrow as pa

    from loopml.store.backend import Backend

#: The fallback reasons the server writes (see the module docstring): the routed version,
#: and what happened.
_FAILED = r"^(?P<ref>\S+)@(?P<version>\d+) (?:failed|missed)"
_GUARDRAIL = r"^guardrail .*; routed to (?P<ref>\S+)@(?P<version>\d+)$"
SHADOW = "shadow"


@dataclass
class Side:
    """One route's traffic over the compared span.

    Attributes:
        route: Its route.
        version: Its version (None: the route logged no rows).
        rows: Rows routed to it (answered by it, or by the fallback after it failed).
        requests: Requests (or routing keys) routed to it.
        errors: Of those, the requests where it failed or missed its deadline.
        fallbacks: The requests the fallback answered for it (errors and guardrails).
        guardrails: The requests a guardrail sent to the fallback.
        rates_reason: Why its rates are not measured ("" when they are).
        y: Labels of its labeled rows (class indices, or numbers for a regressor).
        pred: Its predictions on them (same form).
        score: Its class probabilities on them (n, k), or None when not logged.
        groups: The request (group) of each labeled row.
        first_ms: Event time of its first row (ms since the epoch).
        last_ms: Event time of its last row.
    """

    route: str
    version: int | None = None
    rows: int = 0
    requests: int = 0
    errors: int = 0
    fallbacks: int = 0
    guardrails: int = 0
    rates_reason: str = ""
    y: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    pred: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    score: np.ndarray | None = None
    groups: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    first_ms: int | None = None
    last_ms: int | None = None

    @property
    def labeled(self) -> int:
        """How many labeled rows it answered (the metric's rows)."""
        return len(self.y)

    @property
    def labeled_groups(self) -> int:
        """How many requests (groups) its labeled rows come from."""
        return np.unique(self.groups).size


@dataclass
class Traffic:
    """Both sides over the same span, and what was left out."""

    challenger: Side
    champion: Side
    paired: bool
    since_ms: int | None
    until_ms: int | None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    """What the labels and predictions are: a classifier's classes, or a regressor."""

    classes: tuple[Any, ...]
    regression: bool


def read_traffic(
    backend: Backend,
    name: str,
    *,
    challenger_route: str,
    champion_route: str,
    challenger_version: int | None,
    champion_version: int | None,
    target: Target,
    since: int | None,
    until: int | None,
) -> Traffic:
    """Both sides of a live comparison from the prediction log (see the module docstring).

    A challenger without rows yet gives an empty challenger side (the verdict waits), not an
    error.
    """
    from loopml.store.logs import read_log

    settings = backend.settings
    table = read_log(
        settings.logs_url,
        model=name,
        spool_dirs=(settings.home / "spool",),
        routes=(challenger_route, champion_route, "fallback"),
        since=since,
        until=until,
        features=[],
    )
    frame = _frame(table, backend.labels.get_labels(name), target)
    notes: list[str] = []
    paired = challenger_route == SHADOW
    fallback = frame[frame["route"] == "fallback"]
    routed_version, kind = _attribution(fallback["error"])
    champ_v = _version(frame, champion_route, champion_version)
    ch_v = _version(frame, challenger_route, challenger_version)
    if ch_v is None and not paired:  # a canary that failed every request it was sent
        ch_v = _failed_version(fallback, routed_version, champ_v)
    empty = Traffic(Side(challenger_route), Side(champion_route, champ_v), paired, since, until)
    if ch_v is None:
        empty.notes.append(f"no rows of route {challenger_route!r} logged" + _span(since, until))
        return empty
    same = ch_v == champ_v
    unattributed = (
        f"both routes serve version {ch_v}: their fallback rows cannot be told apart, so the "
        "rates are not measured"
    )
    if same:
        notes.append(unattributed)
    ch_rows = _own(frame, challenger_route, ch_v)
    ch_fall = fallback[(routed_version == ch_v).to_numpy()] if not paired and not same else None
    start = _first(ch_rows, ch_fall)
    champ_rows = _own(frame, champion_route, champ_v) if champ_v is not None else frame.iloc[:0]
    if paired and start is not None:  # a shadow's rows come a moment after the champion's
        start = _twins_first(ch_rows, champ_rows, start)
    before = int((champ_rows["event_ms"] < start).sum()) if start is not None else 0
    if before:
        notes.append(
            f"{before:,} rows of the champion logged before the challenger's first row are left "
            "out (the same traffic only)"
        )
    champ_rows = champ_rows[champ_rows["event_ms"] >= start] if start is not None else champ_rows
    champ_fall = None
    if not same and champ_v is not None:
        champ_fall = fallback[(routed_version == champ_v).to_numpy()]
        champ_fall = champ_fall[champ_fall["event_ms"] >= (start or 0)]
    others = int((frame["route"] == champion_route).sum()) - len(
        _own(frame, champion_route, champ_v)
    )
    if others:
        notes.append(f"{others:,} rows of other versions on route {champion_route!r} left out")
    unknown = int(kind.isna().sum())
    if unknown:
        notes.append(
            f"{unknown:,} fallback rows do not name the version they were routed to (logged "
            "before reasons named it): counted on neither side"
        )
    challenger = _side(
        challenger_route, ch_v, rows=ch_rows, fallback=ch_fall, kind=kind, target=target,
        notes=notes,
    )  # fmt: skip
    champion = _side(
        champion_route, champ_v, rows=champ_rows, fallback=champ_fall, kind=kind,
        target=target, notes=notes,
    )  # fmt: skip
    if same:
        challenger.rates_reason = champion.rates_reason = unattributed
    if paired:
        challenger.rates_reason = (
            "a shadow's failures are not logged (its answers are never served): no rates"
        )
        _pair(
            challenger, champion, shadow_rows=ch_rows, champion_rows=champ_rows,
            target=target, notes=notes,
        )  # fmt: skip
    return Traffic(challenger, champion, paired, start, until, notes)


def _frame(table: pa.Table, labels: pa.Table, target: Target) -> pd.DataFrame:
    """The columns a comparison reads, one row per logged prediction."""
    names = set(table.column_names)
    out = pd.DataFrame(
        {
            "route": table.column("route").to_pandas(),
            "version": table.column("version").to_pandas(),
            "event_ms": _ms(table, "event_at"),
            "at_ms": _ms(table, "at"),
            "error": table.column("error").to_pandas(),
            "caller_id": table.column("caller_id").to_pandas(),
            "out": table.column("out").to_pandas()
            if "out" in names
            else pd.Series([None] * table.num_rows, dtype=object),
            "label": joined_labels(table, labels),
        }
    )
    key = table.column("request_key").to_pandas()
    request = out["at_ms"].astype(str) + "|" + table.column("latency_ms").to_pandas().astype(str)
    out["request"] = pd.factorize(("k" + key).where(key.notna(), "r" + request))[0]
    if not target.regression:
        for i, cls in enumerate(target.classes):
            key = f"p.{class_text(cls)}"
            if key in names:
                out[f"p{i}"] = table.column(key).to_numpy(zero_copy_only=False)
    return out


def _ms(table: pa.Table, column: str) -> np.ndarray:
    import pyarrow as pa

    values = table.column(column).cast(pa.int64()).to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=np.int64)


def _version(frame: pd.DataFrame, route: str, given: int | None) -> int | None:
    """The version given, else the one ``route`` served last (by receipt time)."""
    if given is not None:
        return given
    rows = frame[frame["route"] == route]
    if rows.empty:
        return None
    return int(rows["version"].iloc[int(np.argmax(rows["at_ms"].to_numpy()))])


def _failed_version(
    fallback: pd.DataFrame, routed_version: pd.Series, champion: int | None
) -> int | None:
    """The version other than the champion's that the latest fallback row was routed to."""
    other = (routed_version.notna() & (routed_version != champion)).to_numpy()
    if not other.any():
        return None
    rows = fallback[other]
    return int(routed_version[other].iloc[int(np.argmax(rows["at_ms"].to_numpy()))])


def _own(frame: pd.DataFrame, route: str, version: int | None) -> pd.DataFrame:
    return frame[(frame["route"] == route) & (frame["version"] == version)]


def _attribution(errors: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Per fallback row: the version it was routed to and ``error`` or ``guardrail`` (NA when
    the reason does not say)."""
    text = errors.fillna("").astype(str)
    failed = text.str.extract(_FAILED)["version"]
    guarded = text.str.extract(_GUARDRAIL)["version"]
    version = pd.to_numeric(failed.fillna(guarded), errors="coerce")
    kind = pd.Series(pd.NA, index=errors.index, dtype=object)
    kind[failed.notna()] = "error"
    kind[failed.isna() & guarded.notna()] = "guardrail"
    return version, kind


def _twins_first(shadow_rows: pd.DataFrame, champion_rows: pd.DataFrame, start: int) -> int:
    """The start of a shadow's span: its first row, or the first champion row answering the
    same caller row, when earlier. Without event times from the caller, each row's event time
    is when it was scored, and a shadow scores after the champion has answered."""
    ids = shadow_rows["caller_id"].dropna()
    twins = champion_rows[champion_rows["caller_id"].isin(set(ids))]
    return min(start, int(twins["event_ms"].min())) if len(twins) else start


def _first(rows: pd.DataFrame, fallback: pd.DataFrame | None) -> int | None:
    times = [int(rows["event_ms"].min())] if len(rows) else []
    if fallback is not None and len(fallback):
        times.append(int(fallback["event_ms"].min()))
    return min(times) if times else None


def _side(
    route: str,
    version: int | None,
    *,
    rows: pd.DataFrame,
    fallback: pd.DataFrame | None,
    kind: pd.Series,
    target: Target,
    notes: list[str],
) -> Side:
    side = Side(route, version)
    fell = fallback if fallback is not None else rows.iloc[:0]
    side.rows = len(rows) + len(fell)
    per_request = kind.reindex(fell.index).groupby(fell["request"].to_numpy()).first()
    side.fallbacks = len(per_request)
    side.errors = int((per_request == "error").sum())
    side.guardrails = int((per_request == "guardrail").sum())
    side.requests = rows["request"].nunique() + side.fallbacks
    times = np.concatenate([rows["event_ms"].to_numpy(), fell["event_ms"].to_numpy()])
    if times.size:
        side.first_ms, side.last_ms = int(times.min()), int(times.max())
    labeled = rows[rows["label"].notna()]
    side.y, side.pred, side.score, keep = _arrays(labeled, target, f"{route} v{version}", notes)
    side.groups = labeled["request"].to_numpy()[keep]
    return side


def _arrays(
    rows: pd.DataFrame, target: Target, who: str, notes: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Labels, predictions and probabilities of labeled rows, and which rows they are: the
    rows whose label or prediction is not a class (or not a number) are left out and
    counted in ``notes``."""
    if target.regression:
        y = pd.to_numeric(rows["label"], errors="coerce").to_numpy(dtype=np.float64)
        pred = pd.to_numeric(rows["out"], errors="coerce").to_numpy(dtype=np.float64)
        keep = np.isfinite(y) & np.isfinite(pred)
        _dropped(int((~keep).sum()), who, "a label or prediction that is not a number", notes)
        return y[keep], pred[keep], None, keep
    y = label_index(rows["label"].reset_index(drop=True), target.classes)
    pred = label_index(rows["out"].reset_index(drop=True), target.classes)
    keep = (y >= 0) & (pred >= 0)
    _dropped(int((~keep).sum()), who, "a label or prediction that is not a class", notes)
    columns = [f"p{i}" for i in range(len(target.classes))]
    score = None
    if all(c in rows.columns for c in columns):
        matrix = rows[columns].to_numpy(dtype=np.float64)[keep]
        score = matrix if np.isfinite(matrix).all() else None
    return y[keep], pred[keep], score, keep


def _dropped(count: int, who: str, why: str, notes: list[str]) -> None:
    if count:
        notes.append(f"{count:,} labeled rows of {who} have {why}: left out")


def _pair(
    shadow: Side,
    champion: Side,
    *,
    shadow_rows: pd.DataFrame,
    champion_rows: pd.DataFrame,
    target: Target,
    notes: list[str],
) -> None:
    """Keep, on both sides, the labeled rows both answered (matched by caller id), in the same
    order, grouped by the champion's requests: the difference is then paired."""
    keyed = [
        r[r["caller_id"].notna()].drop_duplicates("caller_id", keep="last")
        for r in (shadow_rows, champion_rows)
    ]
    unkeyed = int(shadow_rows["caller_id"].isna().sum())
    if unkeyed:
        notes.append(
            f"{unkeyed:,} shadow rows carry no caller id and cannot be paired with the "
            "champion's answer (send ids with each request: 'ids' in /predict)"
        )
    both = keyed[0].merge(keyed[1], on="caller_id", suffixes=("", "_champion"))
    both = both[both["label"].notna()].reset_index(drop=True)
    probabilities = [c for c in both.columns if c[:1] == "p" and c[1:].isdigit()]
    columns = ["label", "out", *probabilities]
    mine = both[columns]
    theirs = both[["label", *[f"{c}_champion" for c in columns[1:]]]]
    theirs.columns = pd.Index(columns)
    keep = (
        _arrays(mine, target, "the shadow", notes)[3]
        & _arrays(theirs, target, "the champion", notes)[3]
    )
    shadow.y, shadow.pred, shadow.score, _ = _arrays(mine[keep], target, "", [])
    champion.y, champion.pred, champion.score, _ = _arrays(theirs[keep], target, "", [])
    shadow.groups = champion.groups = both["request_champion"].to_numpy()[keep]


def _span(since: int | None, until: int | None) -> str:
    if since is None and until is None:
        return " yet"
    return f" from {iso_ms(since) or 'the start'} to {iso_ms(until) or 'now'}"


def iso_ms(ms: int | None) -> str | None:
    """Milliseconds since the epoch as ISO 8601 text in UTC (``2013-04-01T06:00:00Z``)."""
    if ms is None:
        return None
    return pd.Timestamp(int(ms), unit="ms", tz="UTC").isoformat().replace("+00:00", "Z")
