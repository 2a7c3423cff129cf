"""Labels as class indices: the forms labels arrive in (text, numbers, booleans) match the
model's classes; nulls and values that are no class are -1 (counted by the monitor)."""

from __future__ import annotations

import pandas as pd

from loopml.health.model_side import label_index


def test_labels_match_classes_across_forms() -> None:
    labels = pd.Series([True, "False", 1, 0.0, "1", None, "untrue", "maybe"], dtype=object)
    assert label_index(labels, (False, True)).tolist() == [1, 0, 1, 0, 1, -1, -1, -1]
    assert label_index(pd.Series(["yes", "No"]), ("no", "yes")).tolist() == [1, 0]
