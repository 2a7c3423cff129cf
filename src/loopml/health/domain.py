"""Multivariate drift by a domain classifier: can a model tell reference rows from window rows?

Univariate tests see each column alone; a change in how columns move together (a correlation
that flips) leaves every marginal as it was. A gradient-boosted classifier (scikit-learn's
``HistGradientBoostingClassifier``, native categorical support, NaN allowed) is trained to
separate up to :data:`CAP` reference rows (the profile's stored sample) from up to :data:`CAP`
window rows; its 3-fold cross-validated ROC AUC is 0.5 when the two are indistinguishable.

Threshold from its own noise: with ``n`` and ``m`` rows and nothing to find, the AUC of
out-of-fold scores is that of random ranks, whose standard deviation is
``sqrt((n + m + 1) / (12 n m))`` (Mann-Whitney); the window drifted when the AUC is above
``0.5 + z * sd`` with ``z`` the ``1 - alpha`` normal quantile, and above ``domain_auc`` (0.55 by
default, so a huge window does not alarm on a separation too small to matter). The features
that separate the two most are ranked by permutation importance on one held-out fold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from loopml.core.entities import MultivariateDrift
from loopml.health.reference import ReferenceProfile

#: Rows of each side the classifier sees (both sides are sampled down to it).
CAP = 2_000
#: Fewest rows on each side for a verdict.
MIN_ROWS = 50
#: Features reported as separating the two.
TOP = 5
FOLDS = 3
#: Held-out rows the permutation importance is measured on.
IMPORTANCE_ROWS = 2_000


def _encode(frame: pd.DataFrame, profile: ReferenceProfile, features: Sequence[str]) -> np.ndarray:
    """Features as float columns: numbers as they are, categories as their index among the
    reference's categories (unknown ones share one code), nulls as NaN."""
    out = np.empty((len(frame), len(features)), dtype=np.float64)
    for j, name in enumerate(features):
        column = frame[name]
        if profile.kinds[name] == "numeric":  # text where numbers were: missing here
            numbers = pd.to_numeric(column, errors="coerce")
            out[:, j] = np.asarray(numbers, dtype=np.float64)
        else:
            cats = profile.categorical[name].categories
            text = column.astype("string")
            codes = pd.Index(cats).get_indexer(pd.Index(text.fillna("\0null")))
            codes = np.where(codes < 0, len(cats), codes).astype(np.float64)
            codes[text.isna().to_numpy()] = np.nan
            out[:, j] = codes
    return out


def domain_drift(
    profile: ReferenceProfile,
    window: pd.DataFrame,
    features: Sequence[str],
    *,
    thresholds: Mapping[str, float],
    seed: int = 0,
) -> MultivariateDrift:
    """The domain classifier's verdict on one window.

    The fits run on one thread: the classifier is small, and OpenMP threads fighting for
    busy cores cost more than they give (measured: 10x slower on a loaded two-core machine).
    """
    import sklearn.ensemble  # noqa: F401  (load its OpenMP runtime before limiting it)
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    with threadpool_limits(limits=1):
        return _domain_drift(profile, window, features, thresholds=thresholds, seed=seed)


def _domain_drift(
    profile: ReferenceProfile,
    window: pd.DataFrame,
    features: Sequence[str],
    *,
    thresholds: Mapping[str, float],
    seed: int,
) -> MultivariateDrift:
    from scipy.stats import norm
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    usable = [f for f in features if f in window.columns and f in profile.sample.columns]
    if not usable:
        return MultivariateDrift(
            None, None, None, note="no feature is in both the reference and the window"
        )
    if len(window) < MIN_ROWS or len(profile.sample) < MIN_ROWS:
        return MultivariateDrift(
            None,
            None,
            None,
            note=f"the domain classifier needs at least {MIN_ROWS} rows on each side; this "
            f"window has {len(window)}",
        )
    rng = np.random.default_rng(seed)
    if len(window) > CAP:
        window = window.iloc[np.sort(rng.choice(len(window), CAP, replace=False))]
    ref = profile.sample
    if len(ref) > CAP:
        ref = ref.iloc[np.sort(rng.choice(len(ref), CAP, replace=False))]
    x = np.vstack([_encode(ref, profile, usable), _encode(window, profile, usable)])
    y = np.concatenate([np.zeros(len(ref)), np.ones(len(window))])
    # a column with one value (or none) on both sides carries nothing to separate them
    present = np.isfinite(x)
    low = np.where(present, x, np.inf).min(axis=0)
    high = np.where(present, x, -np.inf).max(axis=0)
    informative = (low < high) | (present.any(axis=0) & ~present.all(axis=0))
    if not informative.any():
        return MultivariateDrift(
            None, None, None, note="no feature has two distinct values across the two sides"
        )
    x = x[:, informative]
    usable = [f for f, keep in zip(usable, informative, strict=True) if keep]
    # native categorical splits take codes below 255; wider columns are split as ordinals
    categorical = [
        profile.kinds[f] == "categorical" and len(profile.categorical[f].categories) < 254
        for f in usable
    ]

    def model() -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(
            max_iter=40,
            learning_rate=0.1,
            max_leaf_nodes=15,
            early_stopping=False,
            categorical_features=np.asarray(categorical) if any(categorical) else None,
            random_state=seed,
        )

    scores = np.empty(y.size)
    importances = np.zeros(len(usable))
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    for k, (train, test) in enumerate(folds.split(x, y)):
        fitted = model().fit(x[train], y[train])
        scores[test] = fitted.predict_proba(x[test])[:, 1]
        if k == 0:
            keep = test[:IMPORTANCE_ROWS]
            found = permutation_importance(
                fitted, x[keep], y[keep], scoring="roc_auc", n_repeats=2, random_state=seed
            )
            importances = found.importances_mean
    auc = float(roc_auc_score(y, scores))
    n, m = len(ref), len(window)
    sd = float(np.sqrt((n + m + 1) / (12 * n * m)))
    threshold = max(thresholds["domain_auc"], 0.5 + float(norm.ppf(1 - thresholds["alpha"])) * sd)
    order = np.argsort(-importances)
    top = tuple(usable[i] for i in order[:TOP] if importances[i] > 0.005)
    drifted = auc > threshold
    return MultivariateDrift(
        auc=auc,
        threshold=threshold,
        drifted=drifted,
        top_features=top if drifted else (),
        note=f"reference {n:,} rows vs window {m:,} rows, {FOLDS}-fold cross-validated",
    )
