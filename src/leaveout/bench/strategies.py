"""Removal-set strategies of the accuracy study (DESIGN.md §7).

Each strategy picks ``k`` training rows.  Random strategies draw from a NumPy generator; the
others are deterministic given the fitted model.  Uses the public API only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

#: Strategy names, in the order they are run and reported.
STRATEGIES = (
    "random",
    "cluster_feature",
    "cluster_l2",
    "high_loss",
    "if_test_loss_pos",
    "if_test_loss_neg",
    "if_test_prediction_pos",
    "if_test_prediction_neg",
)
#: Strategies that draw a fresh set each repeat.
RANDOMISED = ("random", "cluster_feature", "cluster_l2")


@dataclass(frozen=True)
class Scores:
    """Per-training-row quantities the deterministic strategies rank by, each of shape (n,)."""

    train_loss: np.ndarray
    if_test_loss: np.ndarray
    if_test_prediction: np.ndarray


def _top(score: np.ndarray, k: int) -> np.ndarray:
    # Stable: ties broken by row index, so the set is reproducible.
    return np.sort(np.argsort(-score, kind="stable")[:k])


def pick(strategy: str, k: int, X: np.ndarray, scores: Scores, rng: np.random.Generator) -> np.ndarray:
    """Row indices (sorted, unique) of one removal set of size ``k``.

    Parameters
    ----------
    strategy : one of :data:`STRATEGIES`
    k : int, 1 <= k < n
    X : ndarray or scipy.sparse CSR matrix of shape (n, p), the training design
    scores : Scores
    rng : numpy Generator, used by the randomised strategies
    """
    n = X.shape[0]
    if strategy == "random":
        return np.sort(rng.choice(n, size=k, replace=False))
    if strategy == "cluster_feature":
        j = int(rng.integers(X.shape[1]))
        r = int(rng.integers(n))
        col = X[:, [j]].toarray().ravel() if sp.issparse(X) else X[:, j]
        return np.sort(np.argsort(np.abs(col - col[r]), kind="stable")[:k])
    if strategy == "cluster_l2":
        r = int(rng.integers(n))
        if sp.issparse(X):  # ‖x_i − x_r‖² = ‖x_i‖² − 2 x_i·x_r + ‖x_r‖², without densifying X
            sq = np.asarray(X.multiply(X).sum(axis=1)).ravel()
            d = np.maximum(sq - 2.0 * np.asarray(X @ X[r].T.toarray()).ravel() + sq[r], 0.0)
        else:
            d = np.einsum("ij,ij->i", X - X[r], X - X[r])
        return np.sort(np.argsort(d, kind="stable")[:k])
    if strategy == "high_loss":
        return _top(scores.train_loss, k)
    # IF of a row on the test target = change of the target when the row is removed.
    if strategy == "if_test_loss_pos":
        return _top(scores.if_test_loss, k)
    if strategy == "if_test_loss_neg":
        return _top(-scores.if_test_loss, k)
    if strategy == "if_test_prediction_pos":
        return _top(scores.if_test_prediction, k)
    if strategy == "if_test_prediction_neg":
        return _top(-scores.if_test_prediction, k)
    raise ValueError(f"Unknown strategy {strategy!r}; valid: {', '.join(STRATEGIES)}.")


def sizes_for(n: int, fractions) -> list[int]:
    """Distinct set sizes ⌈f·n⌉ (at least 1, at most n − 1) for the given fractions of n."""
    out = sorted({min(n - 1, max(1, int(np.ceil(f * n)))) for f in fractions})
    return out
