"""Labels as the indices of a model's classes: what evaluation and permutation importance
compare predictions with."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def encode_labels(
    labels: pd.Series, classes: tuple[Any, ...]
) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Map labels to class indices.

    Returns:
        The indices (``-1`` for labels the model never saw), a mask of known labels, and the
        unseen label values (most frequent first).
    """
    lookup = {value: i for i, value in enumerate(classes)}
    text_lookup = {str(value): i for i, value in enumerate(classes)}
    values = labels.tolist()
    index = np.fromiter(
        (lookup.get(v, text_lookup.get(str(v), -1)) for v in values),
        dtype=np.int64,
        count=len(values),
    )
    known = index >= 0
    unseen = labels[~known].value_counts().index.tolist() if not known.all() else []
    return index, known, unseen
