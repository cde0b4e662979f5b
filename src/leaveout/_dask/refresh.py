"""Refined Newton steps (``effects("newton", remove=..., steps=k)``) on a Dask design.

Each refresh of :func:`leaveout._refine.chord` needs the gradient of the retained objective,

    ∇L₋T(θ̂ + Δ) = X̃ᵀ r₋T(θ̂ + Δ) + λP(θ̂ + Δ),     r₋T = row gradient scales, zeroed on T,

a sum over every row of the data.  The chord iterations of the sets run here in lockstep, one
client thread per set, and every round of refreshes is **one** pass over the blocks for all the
sets still iterating: per block, η = X̃_b Θ for the matrix Θ (p × S) of the sets' current
estimates, R = s · ℓ'(η, y) with each set's own rows zeroed in its column, and X̃_bᵀR (p × S),
summed over the blocks in the fixed tree of :func:`~leaveout._dask.compute.tree_sum`.  The
client holds p × S numbers per round.

:mod:`leaveout._refine` stays generic: it asks the state for ``retained_gradient(T)`` (the
callable D ↦ ∇L₋T(θ̂ + D)), which here hands D to the round in progress
(:class:`~leaveout._dask.lockstep.Lockstep`) and waits for its column.
"""

from __future__ import annotations

import numpy as np

from ..designs.dask import _dense, aligned
from .lockstep import Lockstep, run_group

#: Sets whose chord iterations share the passes of one group (a thread each); groups run one
#: after the other.  A pass computes X̃_b Θ for up to this many columns per block.
SETS_AT_ONCE = 64


class RetainedGradients:
    """The ``answer`` of a :class:`~leaveout._dask.lockstep.Lockstep` of chord refreshes: the
    retained gradients ∇L₋T(θ̂ + D) of the asking sets, from one pass.

    Parameters
    ----------
    state : DaskFittedState
        The full data's state (design, y, weights, θ̂, penalty).
    rows : dict
        Set position k → its rows (global indices, ndarray of int).
    """

    def __init__(self, state, rows: dict[int, np.ndarray]):
        self.state = state
        self.rows = rows

    def __call__(self, batch: list[int], deltas: list[np.ndarray]) -> list[np.ndarray]:
        st = self.state
        Theta = st.theta[:, None] + np.stack(deltas, axis=1)           # (p, S)
        rows, cols = set_rows(self.rows, batch)
        G = st.design.reduce_rows(
            _retained_gradient_block, st.loss.y, st.loss.weights,
            args=(Theta, rows, cols, st.loss.family, st.design.fit_intercept),
            what="a refined Newton step (retained gradients)")
        penalty = st.loss.penalty
        return [G[:, j] + penalty * Theta[:, j] for j in range(len(batch))]


def set_rows(rows: dict, batch: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(the rows of the batch's sets, global; the column of each in the batch), int64."""
    sizes = [rows[k].size for k in batch]
    return (np.concatenate([rows[k] for k in batch]).astype(np.int64),
            np.repeat(np.arange(len(batch), dtype=np.int64), sizes))


def _retained_gradient_block(xb, yb, sb, off, Theta, rows, cols, family, fi):
    """X̃_bᵀ R on one block, R[:, j] = s ℓ'(X̃_b θ_j, y) with set j's rows (``rows[cols == j]``)
    zeroed: shape (n_params, S)."""
    design = _dense(xb, fi)
    eta = design.matmat(Theta)                                          # (m_b, S)
    y, s = aligned(yb), aligned(sb)
    R = s[:, None] * family.d1(eta, y[:, None])
    mine = (rows >= off) & (rows < off + xb.shape[0])
    R[rows[mine] - off, cols[mine]] = 0.0
    out = np.empty((design.n_params, R.shape[1]))
    out[: design.n_features] = design.X.T @ R
    if fi:
        out[-1] = R.sum(axis=0)
    return out


def refine_sets(state, local, sets: list[np.ndarray], refine) -> np.ndarray:
    """Refined Newton effects of ``sets`` (positions in ``local``, the gathered rows' state),
    the chords of up to :data:`SETS_AT_ONCE` sets sharing each pass.  NumPy (m, n_params).

    Each set runs :meth:`FittedState.sets` of ``local`` (the Newton step, its solver and the
    chord of :mod:`leaveout._refine`, unchanged) on the call's list with the other sets
    emptied, so it keeps its own position (warnings and the refinement record name it by that
    position) and the estimators' per-set code is not restated here.
    """
    m = len(sets)
    out = np.zeros((m, state.design.n_params))
    empty = np.zeros(0, dtype=np.intp)
    todo = [k for k in range(m) if sets[k].size]
    local._support_masks  # noqa: B018 - the cached masks of the degeneracy check, before the threads
    for start in range(0, len(todo), SETS_AT_ONCE):
        group = todo[start:start + SETS_AT_ONCE]
        rounds = Lockstep(group, RetainedGradients(state, {k: local.row_ids[sets[k]]
                                                            for k in group}))
        local.rounds = rounds

        def one(k):
            alone = [sets[j] if j == k else empty for j in range(m)]
            return local.sets("newton", alone, refine=refine)[k]

        try:
            done = run_group(rounds, {k: (lambda k=k: one(k)) for k in group})
        finally:
            local.rounds = None
        for k, row in done.items():
            out[k] = row
    return out
