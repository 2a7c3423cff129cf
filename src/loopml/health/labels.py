"""Delayed labels: :class:`LabelService` stores ground truth that arrives after a prediction.

A label names its row by the prediction id the server returned or by the caller's own id,
and belongs to the model name (every version's rows share the ids). Per call:

1. each label is checked against the model version the reference names (a classifier's
   classes, a regressor's finite numbers; :mod:`loopml.health.label_check`): a label that
   does not fit is refused, counted in ``bad_type`` and described in ``examples``;
2. an id repeated within the call keeps its last label that fits; the earlier ones are
   counted in ``duplicates``, and so are stored labels the call replaces (last to arrive wins);
3. every label that fits is stored, whether or not a logged prediction has its id yet:
   ``matched`` counts ids found in the log store or a spool folder
   (:func:`~loopml.store.logs.ids.known_ids`), ``unknown`` the others, which join when the
   prediction is logged or compacted later.

Nothing is dropped silently: ``received == stored + bad_type + (duplicates within the call)``.
The monitor joins the stored labels to the prediction log by row id.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopml.core.clock import Clock, now_ms
from loopml.core.entities import LabelSummary, ModelVersion
from loopml.core.errors import InvalidArgumentError
from loopml.health.label_check import EXAMPLES, as_arrow, check_labels

if TYPE_CHECKING:
    from loopml.store.backend import Backend

#: The range of event times accepted (years 1 to 9999), in ms since the epoch.
_MIN_MS, _MAX_MS = -62_135_596_800_000, 253_402_300_799_999


class LabelService:
    """Store delayed labels and say what became of each.

    Args:
        backend: The stores (the registry, to check labels; the label store).
        logs_url: The prediction log store searched for the ids (default: the settings').
        spool_root: The spool folder(s) searched for ids not compacted yet (default:
            ``spool`` in the store's home, where ``loopml serve`` spools).
        clock: Milliseconds since the epoch (injectable for tests).
    """

    def __init__(
        self,
        backend: Backend,
        *,
        logs_url: str | None = None,
        spool_root: Path | None = None,
        clock: Clock = now_ms,
    ) -> None:
        from loopml.registry import ModelRegistry

        self.backend = backend
        self.registry = ModelRegistry(backend, clock=clock)
        self.logs_url = logs_url if logs_url is not None else backend.settings.logs_url
        self.spool_root = spool_root if spool_root is not None else backend.settings.home / "spool"
        self._clock = clock

    def resolve(self, model: str) -> ModelVersion:
        """The version whose signature labels of ``model`` are checked against: the one
        ``name@version`` or ``name@alias`` names; for a bare name its champion, else its
        latest version.

        Raises:
            InvalidArgumentError: A malformed reference.
            NotFoundError: No such model, version or alias.
        """
        from loopml.registry.refs import CHAMPION, parse_model_ref

        parsed = parse_model_ref(model)
        if isinstance(model, str) and "@" not in model:
            aliases = self.registry.aliases(parsed.name)
            tag = CHAMPION if CHAMPION in aliases else "latest"
            return self.registry.get(f"{parsed.name}@{tag}")
        return self.registry.get(model)

    def log_labels(
        self, model: str | ModelVersion, ids: Any, labels: Any, *, timestamps: Any = None
    ) -> LabelSummary:
        """Check, store and match labels of ``model``'s rows.

        Args:
            model: ``name``, ``name@alias`` or ``name@version`` (or the version itself,
                as the model server passes the champion it serves).
            ids: The row ids: prediction ids the server returned or the caller's ids
                (strings, or integers, stored as their decimal text).
            labels: One label per id (a list, NumPy array, pandas Series or Arrow array).
            timestamps: Optional event time per label: datetimes, ISO 8601 text (UTC when
                naive) or integers (ms since the epoch); None (or a missing value) for none.

        Returns:
            The :class:`~loopml.core.entities.LabelSummary` of the call.

        Raises:
            InvalidArgumentError: ``ids``, ``labels`` and ``timestamps`` differ in length, an
                id is missing or not a string or integer, or a timestamp cannot be read.
            NotFoundError: No such model, version or alias.
        """
        version = model if isinstance(model, ModelVersion) else self.resolve(model)
        row_ids = parse_ids(ids)
        values = labels if hasattr(labels, "__len__") else list(labels)
        times = None if timestamps is None else parse_timestamps(timestamps)
        lengths = {"ids": len(row_ids), "labels": len(values)}
        if times is not None:
            lengths["timestamps"] = len(times)
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{n} {name}" for name, n in lengths.items())
            raise InvalidArgumentError(
                f"log_labels needs one label (and timestamp, when given) per id; got {shown}. "
                "Pass sequences of the same length."
            )
        received = len(row_ids)
        if received == 0:
            return LabelSummary(model=version.ref)
        checked = check_labels(version, values, row_ids)
        fits = checked.fits
        ids_array = pa.array(row_ids, pa.string())
        # Last label that fits wins within the call: keep each id's last position.
        keep = fits & _last_of_each(row_ids, fits)
        in_call = int(fits.sum() - keep.sum())
        mask = pa.array(keep)
        kept_ids: list[str] = ids_array.filter(mask).to_pylist()
        kept_json: list[str] = checked.label_json.filter(mask).to_pylist()
        kept_times = None if times is None else [t for t, k in zip(times, keep, strict=True) if k]
        replaced = self.backend.labels.put_labels(
            version.name,
            kept_ids,
            kept_json,
            received_at=self._clock(),
            event_at=kept_times,
        )
        from loopml.store.logs.ids import known_ids

        known = known_ids(self.logs_url, self.spool_root, version.name, kept_ids)
        unknown_ids = [i for i in kept_ids if i not in known][:EXAMPLES]
        examples = list(checked.problems)
        examples += [
            f"Id {i!r} matches no logged prediction of {version.name!r} yet; its label is kept "
            "and joins when the prediction is logged."
            for i in unknown_ids
        ]
        return LabelSummary(
            model=version.ref,
            received=received,
            stored=len(kept_ids),
            matched=len(known),
            unknown=len(kept_ids) - len(known),
            duplicates=in_call + replaced,
            bad_type=int((~fits).sum()),
            examples=tuple(examples),
        )


def _last_of_each(row_ids: list[str], fits: np.ndarray) -> np.ndarray:
    """True at the last position of each id among the labels that fit."""
    import pandas as pd

    series = pd.Series(row_ids, dtype=object)
    last = np.zeros(len(row_ids), dtype=bool)
    positions = np.flatnonzero(fits)
    if len(positions):
        dup = series.iloc[positions].duplicated(keep="last").to_numpy()
        last[positions[~dup]] = True
    return last


def parse_ids(ids: Any) -> list[str]:
    """The row ids as strings (integers as their decimal text).

    Raises:
        InvalidArgumentError: Not a sequence, a missing id, or an id of another type.
    """
    if isinstance(ids, str | bytes) or not isinstance(ids, Iterable):
        raise InvalidArgumentError(
            f"'ids' must be a sequence of row ids (a list, array or Series); got "
            f"{type(ids).__name__}. Pass e.g. ['a17', 'a18']."
        )
    array = as_arrow(ids if hasattr(ids, "__len__") else list(ids))
    if array is None or not (
        pa.types.is_string(array.type)
        or pa.types.is_large_string(array.type)
        or pa.types.is_integer(array.type)
        or pa.types.is_null(array.type)
    ):
        kind = "mixed types" if array is None else str(array.type)
        raise InvalidArgumentError(
            f"Row ids must be strings (or integers); got {kind}. Use the prediction ids the "
            "server returned or your own ids, all of one type."
        )
    if array.null_count:
        first = int(np.flatnonzero(~array.is_valid().to_numpy(zero_copy_only=False))[0])
        raise InvalidArgumentError(
            f"{array.null_count} row id(s) are missing (the first at position {first}); "
            "every label needs the id of its row. Nothing was stored."
        )
    text = array.cast(pa.string())
    if pc.any(pc.match_substring(text, "\x00")).as_py():
        raise InvalidArgumentError(
            "A row id contains a NUL character (\\x00), which no store keeps; use the "
            "prediction ids the server returned or ids of printable text."
        )
    return [str(i) for i in text.to_pylist()]


def parse_timestamps(timestamps: Any) -> list[int | None]:
    """Event times as ms since the epoch (None where missing).

    Raises:
        InvalidArgumentError: A value is neither a time, ISO 8601 text nor an integer.
    """
    import pandas as pd

    if isinstance(timestamps, str | bytes) or not isinstance(timestamps, Iterable):
        raise InvalidArgumentError(
            f"'timestamps' must be a sequence with one event time per label; got "
            f"{type(timestamps).__name__}."
        )
    series = pd.Series(list(timestamps) if not hasattr(timestamps, "__len__") else timestamps)
    if pd.api.types.is_bool_dtype(series):
        raise InvalidArgumentError("'timestamps' must be times, ISO 8601 text or ms; got bools.")
    missing = series.isna().to_numpy()
    if pd.api.types.is_numeric_dtype(series):
        numbers = series.to_numpy(dtype=float, na_value=0.0)
        numbers = np.where(np.abs(numbers) > 2 * _MAX_MS, 2 * _MAX_MS, numbers)
        fractional = np.flatnonzero(np.mod(numbers, 1) != 0)
        if len(fractional):
            raise InvalidArgumentError(
                "Numeric 'timestamps' are milliseconds since the epoch and must be whole "
                f"numbers; got {numbers[fractional[0]]!r} at position {fractional[0]}."
            )
        ms = numbers.astype(np.int64)
    else:  # times or text; a mixed list may hold ms numbers too
        is_number = series.map(lambda v: isinstance(v, int | float) and not isinstance(v, bool))
        numeric = is_number.to_numpy(dtype=bool) & ~missing
        ms = np.zeros(len(series), dtype=np.int64)
        if numeric.any():
            ms[numeric] = np.array(parse_timestamps(series[numeric].astype(float).tolist()))
        times = series.where(~numeric, None)
        try:
            parsed = pd.to_datetime(times, utc=True, format="mixed")
        except (ValueError, TypeError) as exc:
            raise InvalidArgumentError(
                f"A timestamp could not be read as a time: {exc}. Give datetimes, ISO 8601 "
                "text ('2026-12-07T08:00:00Z') or integers (ms since the epoch)."
            ) from None
        as_ms = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ms]").astype(np.int64)
        ms = np.where(numeric, ms, as_ms)
    out_of_range = np.flatnonzero(~missing & ((ms < _MIN_MS) | (ms > _MAX_MS)))
    if len(out_of_range):
        raise InvalidArgumentError(
            f"The timestamp at position {out_of_range[0]} is not a time between the years 1 "
            "and 9999 (as ms since the epoch); give datetimes, ISO 8601 text or ms."
        )
    return [None if gone else int(v) for v, gone in zip(ms.tolist(), missing, strict=True)]
