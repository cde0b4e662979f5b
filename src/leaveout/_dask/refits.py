"""Exact retraining of many sets on a Dask design: their Newton fits share each pass.

Each set's refit is the distributed Newton fit of :mod:`leaveout._dask.loss` (the in-memory
Newton loop, line search and stopping rule unchanged), warm-started at θ̂, with the set's rows
given weight 0.  Here the fits of a group of sets run in lockstep
(:class:`~leaveout._dask.lockstep.Lockstep`, one client thread per set): every evaluation a
fit asks for — objective, gradient, p × p Hessian and rounding bounds at its current point or
line-search trial — joins a round, and one pass over the blocks answers the whole round.  Per
block the task runs, for each asking set, the same block function as a fit of its own
(:func:`~leaveout._dask.loss._stats_block`) on the block's weights with that set's rows zeroed,
and the partials are summed over the same fixed tree: every set gets the bits of its own
serial fit, in max-over-sets passes instead of the sum.
"""

from __future__ import annotations

import numpy as np

from ..designs.dask import aligned
from .loss import DaskLinearLoss, _stats_block
from .lockstep import Lockstep, run_group
from .refresh import set_rows

#: Refits whose Newton iterations share the passes of one group (a client thread each).  A
#: pass computes up to this many p × p Hessians per block.
REFITS_PER_PASS = 32


class SharedPassLoss(DaskLinearLoss):
    """The retained objective of one set, its evaluations answered by the group's rounds."""

    def __init__(self, base: DaskLinearLoss, summary, rounds: Lockstep):
        super().__init__(base.design, base.family, base.y, base.weights, base.l2, summary)
        self.rounds = rounds

    def _data_parts(self, theta: np.ndarray) -> tuple:
        return self.rounds.request(np.array(theta, dtype=np.float64))


class RetainedStats:
    """The ``answer`` of a refit group: each asking set's data parts at its point, one pass."""

    def __init__(self, loss: DaskLinearLoss, rows: dict[int, np.ndarray]):
        self.loss = loss
        self.rows = rows

    def __call__(self, batch: list[int], thetas: list[np.ndarray]) -> list[tuple]:
        loss = self.loss
        rows, cols = set_rows(self.rows, batch)
        flat = loss.design.reduce_rows(
            _retained_stats_block, loss.y, loss.weights,
            args=(np.stack(thetas), rows, cols, loss.family, loss.design.fit_intercept),
            what=f"a Newton step of {len(batch)} refits (gradients and Hessians)")
        return [tuple(flat[4 * j:4 * j + 4]) for j in range(len(batch))]


def _retained_stats_block(xb, yb, sb, off, thetas, rows, cols, family, fi):
    """:func:`_stats_block` for each set j at ``thetas[j]`` with its rows' weights zeroed,
    flattened into one tuple (4 arrays per set, summed elementwise over the blocks)."""
    xb, yb, sb = aligned(xb), aligned(yb), np.asarray(sb, dtype=np.float64)
    mine = (rows >= off) & (rows < off + xb.shape[0])
    local, owner = rows[mine] - off, cols[mine]
    out = []
    for j, theta in enumerate(thetas):
        s = np.array(sb, copy=True)
        s[local[owner == j]] = 0.0
        out.extend(_stats_block(xb, yb, s, off, theta, family, fi))
    return tuple(out)


def refit_sets(state, sets: list[np.ndarray], summaries: dict, fit_one) -> dict:
    """θ̂₋T for the non-empty ``sets`` (global rows), groups of :data:`REFITS_PER_PASS` fits
    sharing each pass.  ``summaries[k]`` is set k's retained input summary; ``fit_one(loss,
    T, k)`` runs one refit on a loss (and turns a failure into NaN).  {k: θ̂₋T}."""
    todo = [k for k, T in enumerate(sets) if T.size]
    thetas = {}
    for start in range(0, len(todo), REFITS_PER_PASS):
        group = todo[start:start + REFITS_PER_PASS]
        rounds = Lockstep(group, RetainedStats(state.loss, {k: sets[k] for k in group}))
        work = {k: (lambda k=k: fit_one(SharedPassLoss(state.loss, summaries[k], rounds),
                                        sets[k], k))
                for k in group}
        thetas.update(run_group(rounds, work))
    return thetas
