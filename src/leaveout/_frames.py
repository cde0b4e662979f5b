"""Labelled results: effects as pandas DataFrames, and the top rows for each query.

Rows are named by the training X's pandas index (else their position 0..n-1), parameters by
the model's feature names (else ``x0, x1, ...``) and ``"intercept"``, and query rows by the
target's index (else 0..m-1).  pandas is imported only here, and only when asked for.
"""

from __future__ import annotations

import numbers

import numpy as np


def _pandas():
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - exercised only without pandas
        raise ImportError('Labelled results need pandas: pip install "leaveout[cli]" (or '
                          "pip install pandas).") from None
    return pd


def param_names(feature_names, n_features: int, fit_intercept: bool) -> list:
    """Names of the parameters: the feature names (or x0..), then "intercept" if fitted."""
    if feature_names is None or len(feature_names) != n_features:
        names = [f"x{j}" for j in range(n_features)]
    else:
        names = [str(c) for c in feature_names]
    return names + ["intercept"] if fit_intercept else names


def row_labels(att) -> list:
    """Labels of the training rows: X's index, else 0..n-1."""
    if att.row_labels_ is None:
        return list(range(att.n_samples))
    return list(att.row_labels_)


def query_names(target) -> list:
    """Labels of a target's query rows (its index, else 0..m-1); one name for a scalar target."""
    if target.reduce:
        return [f"{target.kind} ({target.reduce})"]
    if target.index is None:
        return list(range(target.n_rows))
    return list(target.index)


def effects_frame(att, out: np.ndarray, remove, target):
    """``out`` (an array from :meth:`Attributor.effects`) as a labelled DataFrame."""
    pd = _pandas()
    columns = att.param_names_ if target is None else query_names(target)
    out = np.asarray(out)
    if remove is None:
        index = pd.Index(row_labels(att), name="removed row")
    else:
        out = np.atleast_1d(out)
        if out.ndim == 1 and (target is None or not target.reduce):
            out = out[None]  # one set
        index = pd.RangeIndex(out.shape[0], name="set")
    if out.ndim == 1:
        out = out[:, None]
    return pd.DataFrame(out, index=index, columns=columns)


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be an integer >= 1 (rows per query); got {k!r}.")
    return int(k)


def rank_rows(effects: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest |effects| per column of ``effects`` (n, m): array (k, m).

    Largest first; ties keep training order; NaN effects (rows of leverage 1) come last.
    """
    key = -np.abs(effects)
    key = np.where(np.isnan(key), np.inf, key)
    return np.argsort(key, axis=0, kind="stable")[:k]


def top_frame(att, target, k, method: str, verify: bool):
    """See :meth:`Attributor.top`."""
    from .targets import Target

    pd = _pandas()
    if not isinstance(target, Target):
        raise TypeError(f"target must be made by leaveout.targets (linear_predictor, prediction "
                        f"or loss); got {type(target).__name__}.")
    k = min(_check_k(k), att.n_samples)
    effects = np.asarray(att.effects(method, target=target))
    if effects.ndim == 1:
        effects = effects[:, None]
    order = rank_rows(effects, k)  # (k, m)
    m = effects.shape[1]
    rows = order.T.ravel()  # query-major
    queries = np.repeat(np.arange(m), k)
    labels, qnames = row_labels(att), query_names(target)
    frame = pd.DataFrame({
        "query": [qnames[q] for q in queries],
        "rank": np.tile(np.arange(1, k + 1), m),
        "train": [labels[i] for i in rows],
        "effect": effects[rows, queries],
        "method": method,
    })
    if verify:
        distinct = np.unique(rows)
        exact = np.asarray(att.effects("retrain", remove=[[int(i)] for i in distinct],
                                       target=target, by="position")).reshape(len(distinct), m)
        where = np.searchsorted(distinct, rows)
        frame["retrained"] = exact[where, queries]
    return frame
