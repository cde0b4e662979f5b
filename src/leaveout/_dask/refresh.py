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
callable D ↦ ∇L₋T(θ̂ + D)), which here hands D to the round in progress and waits for its
column.  A round starts when every set of the group has asked or finished, so which sets share
a pass depends only on the data (how many steps each set takes), never on thread timing; the
sets are placed in the pass by their position in the call.  The same inputs give the same bits.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..designs.dask import _dense, aligned

#: Sets whose chord iterations share the passes of one group (a thread each); groups run one
#: after the other.  A pass computes X̃_b Θ for up to this many columns per block.
SETS_AT_ONCE = 64


class _Aborted(Exception):
    """The coordinator stopped the rounds (a pass failed); the set's thread just ends."""


class LockstepGradients:
    """The rounds of retained-gradient passes for one group of sets.

    Parameters
    ----------
    state : DaskFittedState
        The full data's state (design, y, weights, θ̂, penalty).
    members : dict
        Set position k → its rows (global indices, ndarray of int).
    """

    def __init__(self, state, members: dict[int, np.ndarray]):
        self.state = state
        self.rows = members
        self._cond = threading.Condition()
        self._active = set(members)
        self._pending: dict[int, np.ndarray] = {}
        self._results: dict[int, np.ndarray] = {}
        self._error: BaseException | None = None
        self._local = threading.local()
        self.n_passes = 0

    # -- the sets' side (client threads) -----------------------------------------------------
    def run(self, k: int, work):
        """Run ``work()`` as set k's thread; set k leaves the rounds when it returns."""
        self._local.k = k
        try:
            return work()
        finally:
            with self._cond:
                self._active.discard(k)
                self._cond.notify_all()

    def gradient(self, D: np.ndarray) -> np.ndarray:
        """∇L₋T(θ̂ + D) for the calling thread's set: joins the next round and waits for it."""
        k = self._local.k
        with self._cond:
            self._pending[k] = np.array(D, dtype=np.float64)
            self._cond.notify_all()
            self._cond.wait_for(lambda: k in self._results or self._error is not None)
            if k not in self._results:
                raise _Aborted
            return self._results.pop(k)

    # -- the coordinator (the calling thread, which holds the Dask client) -------------------
    def coordinate(self) -> None:
        """Run rounds until every set has finished; each round is one pass."""
        while True:
            with self._cond:
                self._cond.wait_for(lambda: set(self._pending) == self._active)
                if not self._active:
                    return
                batch = sorted(self._pending)
                thetas = [self._pending.pop(k) for k in batch]
            try:
                grads = self._pass(batch, thetas)
            except BaseException as exc:
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                raise
            with self._cond:
                self._results.update(zip(batch, grads))
                self._cond.notify_all()

    def _pass(self, batch: list[int], deltas: list[np.ndarray]) -> list[np.ndarray]:
        st = self.state
        Theta = st.theta[:, None] + np.stack(deltas, axis=1)           # (p, S)
        rows = np.concatenate([self.rows[k] for k in batch]).astype(np.int64)
        cols = np.repeat(np.arange(len(batch)), [self.rows[k].size for k in batch])
        G = st.design.reduce_rows(
            _retained_gradient_block, st.loss.y, st.loss.weights,
            args=(Theta, rows, cols, st.loss.family, st.design.fit_intercept),
            what="a refined Newton step (retained gradients)")
        self.n_passes += 1
        penalty = st.loss.penalty
        return [G[:, j] + penalty * Theta[:, j] for j in range(len(batch))]


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
        rounds = LockstepGradients(state, {k: local.row_ids[sets[k]] for k in group})
        local.rounds = rounds

        def one(k):
            alone = [sets[j] if j == k else empty for j in range(m)]
            return local.sets("newton", alone, refine=refine)[k]

        with ThreadPoolExecutor(len(group)) as pool:
            futures = {k: pool.submit(rounds.run, k, lambda k=k: one(k)) for k in group}
            try:
                rounds.coordinate()
            finally:
                local.rounds = None
            for k, fut in futures.items():
                out[k] = fut.result()
    return out
