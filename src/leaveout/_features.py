"""pandas labels: feature names (columns) and row indexes are checked, never silently ignored.

Rows are matched by position, as in scikit-learn; but when X and y (or sample_weight) are both
pandas objects whose row indexes differ, the user almost certainly meant them to be aligned by
label, so :func:`check_same_rows` refuses instead of pairing the wrong rows.

Feature names: a model fitted on a DataFrame is only ever applied to the same columns.

A model fitted on a DataFrame with string column names remembers them (``feature_names_in_``, as
scikit-learn does).  Data passed later as a DataFrame must have exactly those columns in that
order; otherwise the coefficients would silently multiply the wrong columns.  Plain arrays carry
no names and are taken positionally.
"""

from __future__ import annotations

import numpy as np


def feature_names(X) -> np.ndarray | None:
    """The string column names of a DataFrame-like ``X``, or None."""
    cols = getattr(X, "columns", None)
    if cols is None or getattr(X, "ndim", 2) != 2:
        return None
    names = list(cols)
    if not names or not all(isinstance(c, str) for c in names):
        return None
    return np.asarray(names, dtype=object)


def query_labels(X) -> np.ndarray | None:
    """The row labels (pandas index) of a DataFrame-like ``X`` as an object array, or None."""
    index = getattr(X, "index", None)
    if index is None or not hasattr(index, "equals") or getattr(X, "ndim", 2) != 2:
        return None
    return np.asarray(list(index), dtype=object)


def check_feature_names(expected, got, what: str, owner: str) -> None:
    """Raise ValueError if the column names ``got`` (from :func:`feature_names`) differ from
    ``expected``; either being None (plain arrays) passes.

    ``what`` names the data (e.g. "X", "The target's X"); ``owner`` the model.
    """
    if expected is None or got is None:
        return
    expected = np.asarray(expected, dtype=object)
    if got.shape == expected.shape and np.all(got == expected):
        return
    unseen = [c for c in got if c not in set(expected)]
    missing = [c for c in expected if c not in set(got)]
    if unseen or missing:
        parts = []
        if unseen:
            parts.append(f"names the {owner} was not fitted on: {unseen[:5]}")
        if missing:
            parts.append(f"missing names it was fitted on: {missing[:5]}")
        detail = "; ".join(parts)
    else:
        detail = "the same names in another order"
    raise ValueError(
        f"{what} has feature names that differ from those the {owner} was fitted with "
        f"({detail}). Pass the columns in the fitted order: X[feature_names_in_]."
    )


def check_same_rows(X, other, name: str) -> None:
    """Raise ValueError if ``X`` and ``other`` both carry a pandas row index and they differ."""
    ix, io = getattr(X, "index", None), getattr(other, "index", None)
    if ix is None or io is None or not hasattr(ix, "equals") or not hasattr(io, "equals"):
        return
    if len(ix) != len(io) or ix.equals(io):
        return  # a length mismatch is reported by the shape checks
    raise ValueError(
        f"{name} and X are pandas objects with different row indexes (first labels "
        f"{list(io[:3])} vs {list(ix[:3])}). leaveout pairs rows by position, which would "
        f"mismatch them here: align first ({name} = {name}.loc[X.index]) or pass NumPy arrays."
    )
