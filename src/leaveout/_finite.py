"""Results that overflow float64 are reported, never returned as silent inf/NaN."""

from __future__ import annotations

import numpy as np


def check_finite_result(values: np.ndarray, what: str) -> np.ndarray:
    """Return ``values``; raise ValueError naming the first rows where it is not finite.

    Called on values computed from finite, validated inputs: a non-finite entry can only be an
    overflow (e.g. a Poisson rate e^η with η > 709 at a query row far outside the data).
    """
    values = np.asarray(values)
    bad = ~np.isfinite(values)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(bad.shape[0], -1).any(axis=1)) if bad.ndim else []
        where = f" at row(s) {rows[:10].tolist()}" if len(rows) else ""
        raise ValueError(
            f"{what[0].upper()}{what[1:]} overflows float64{where}: the query rows (or "
            f"parameters) are so far outside the training data's range that the value exceeds "
            f"1.8e308. Check the scale of those rows."
        )
    return values
