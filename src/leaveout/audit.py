"""Robustness audit: the smallest set of training rows whose removal flips a scalar target.

(AMIP: Broderick, Giordano & Meager, 2020; DESIGN.md §9.)  For a scalar target f(θ) — a
coefficient, one prediction, a sum — with value f₀ at θ̂ and a threshold t (0 for a sign flip),
find a small set T with f(θ̂₋T) on the other side of t, and prove it by an exact refit.

Search (``smallest_removal``):

1. **Greedy, re-ranked.**  Per-row first-order effects on f of the rows still in the data, on
   the model *retrained without the rows removed so far* (RIF effects, ``"if"`` with
   ``method="if"``), give an order; the rows needed to cross t by their summed effects are
   estimated, half of them (at least one) are removed, the model is refitted exactly
   (warm-started) and the effects re-ranked.  Re-ranking after partial removals is what finds
   sets whose rows mask each other (a row that matters only once others are gone), which a
   one-shot additive order misses.  Each refit is exact, so the set found is verified by
   construction; the last batch is trimmed to its shortest crossing prefix (bisection by exact
   refits).  With ``verify=False`` the refits are replaced by one Newton step each and nothing
   is verified.
2. **One-shot baselines.**  The rows ordered once by their IF (AMIP) and by their RIF effects
   on the full model; the size AMIP predicts (smallest prefix whose summed effects cross) is
   reported, and the smallest prefix that really flips is located (Newton-step estimates of
   prefixes by bisection, then exact refits stepping down or up from there; AMIP's own prefix
   is refitted too, so the result is never larger than it when its refit flips).
3. The smallest verified set among all of them is returned: never larger than a verified
   one-shot prefix, and never a flip that an exact refit does not confirm.
"""

from __future__ import annotations

import logging
import math
import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np

from ._linear import LinearLoss
from .estimators import FittedState
from .exceptions import ConvergenceError, LeaveoutWarning, SingularHessianError
from .fitting import exact_fit

logger = logging.getLogger(__name__)

#: Exact refits spent at most per one-shot baseline when stepping from its first candidate.
ONE_SHOT_STEPS = 8


@dataclass(frozen=True)
class OneShotSet:
    """A one-shot baseline: rows ranked once by their per-row effects on the full model.

    Attributes
    ----------
    method : {"if", "rif"}
        ``"if"`` is AMIP's ranking.
    predicted_size : int or None
        AMIP's answer: the smallest prefix whose summed per-row effects cross the threshold
        (None: not within ``max_rows``).
    rows : ndarray of int
        The smallest prefix found whose exact refit crosses the threshold (empty if none).
    actual : float
        The target after removing ``rows`` (exact refit; NaN if none found).
    flipped : bool
    """

    method: str
    predicted_size: int | None
    rows: np.ndarray
    actual: float
    flipped: bool


@dataclass(frozen=True)
class RemovalAudit:
    """Result of :meth:`Attributor.smallest_removal`.

    Attributes
    ----------
    rows : ndarray of int
        Training row indices of the set (in the order they were chosen).  When no flip was
        found, the set of at most ``max_rows`` rows that moved the target furthest.
    predicted : float
        The target's value after removing ``rows``, estimated from the full model by
        ``method`` (first order for ``if``/``rif``, one Newton step for ``newton``).
    actual : float
        The target's value after removing ``rows``, by an exact refit (NaN if
        ``verify=False``).
    flipped : bool
        Whether the exact refit puts the target past the threshold.  Never True without that
        refit.
    value : float
        The target at θ̂ (nothing removed).
    threshold : float
        0.0 for a sign flip.
    method : str
    max_rows : int
    found_by : str
        ``"greedy"``, ``"one-shot if"``, ``"one-shot rif"`` or ``"none"``.
    n_refits : int
        Exact refits spent.
    baselines : tuple of OneShotSet
        The one-shot IF (AMIP) and RIF sets.
    greedy_size : int or None
        Size of the re-ranked greedy's verified set (None when it found none).
    """

    rows: np.ndarray
    predicted: float
    actual: float
    flipped: bool
    value: float
    threshold: float
    method: str
    max_rows: int
    found_by: str
    n_refits: int
    baselines: tuple = field(default=())
    greedy_size: int | None = None

    @property
    def size(self) -> int:
        return int(self.rows.size)

    @property
    def moved(self) -> float:
        """actual − value: how far the exact refit moved the target (NaN if not verified)."""
        return self.actual - self.value

    def __str__(self) -> str:
        what = "sign" if self.threshold == 0.0 else f"side of {self.threshold:g}"
        if self.flipped:
            head = (f"Removing {self.size} row(s) flips the target's {what}: {self.value:.6g} → "
                    f"{self.actual:.6g} by exact refit (estimate {self.predicted:.6g}).")
        elif np.isnan(self.actual):
            head = (f"Not verified (verify=False): removing {self.size} row(s) is estimated to "
                    f"move the target {self.value:.6g} → {self.predicted:.6g}.")
        else:
            head = (f"No set of at most {self.max_rows} rows found that flips the target's "
                    f"{what}: the best moved it {self.value:.6g} → {self.actual:.6g} by exact "
                    f"refit ({self.size} rows). This is evidence, not proof, of robustness.")
        base = (f"greedy: {self.greedy_size if self.greedy_size is not None else 'none'}; "
                if self.baselines else "")
        base += "; ".join(
            f"one-shot {b.method}: predicted {b.predicted_size}, verified "
            f"{b.rows.size if b.flipped else 'none'}" for b in self.baselines)
        return head + (f" Baselines — {base}." if base else "")


class _Search:
    """State shared by the searches: the full fit, the target, the threshold, refit counting."""

    def __init__(self, state: FittedState, bound, threshold: float, max_rows: int, verify: bool):
        self.st, self.bound, self.t, self.max_rows, self.verify = (state, bound, threshold,
                                                                  max_rows, verify)
        self.f0 = float(bound.value(state.theta)[0])
        self.sign = 1.0 if self.f0 > threshold else -1.0
        self.n_refits = 0
        self._cache: dict[bytes, float] = {}

    def crossed(self, value: float) -> bool:
        return bool(np.isfinite(value) and self.sign * (value - self.t) < 0.0)

    def gains(self, state: FittedState, method: str) -> np.ndarray:
        """Per-row movement towards the threshold (positive = towards), NaN-safe."""
        e = state.per_row_linear(method, self.bound.jacobian_t(state.theta))[:, 0]
        g = -self.sign * e
        g[~np.isfinite(g)] = -np.inf
        return g

    def exact(self, rows) -> float:
        """f(θ̂₋T) by an exact refit (cached by set)."""
        T = np.sort(np.asarray(rows, dtype=np.intp))
        key = T.tobytes()
        if key not in self._cache:
            self.n_refits += 1
            theta = self.st.refit(T)
            self._cache[key] = float(self.bound.value(theta)[0]) if np.all(
                np.isfinite(theta)) else np.nan
        return self._cache[key]

    def estimate(self, rows, method: str) -> float:
        """f(θ̂ + Δ̂_T) with Δ̂ by ``method`` on the full model."""
        delta = self.st.sets(method, [np.asarray(rows, dtype=np.intp)])[0]
        if not np.all(np.isfinite(delta)):
            return np.nan
        return float(self.bound.value(self.st.theta + delta)[0])

    def retained(self, keep: np.ndarray, theta0: np.ndarray) -> tuple[FittedState, float]:
        """The model on the rows ``keep``: refitted exactly (``verify``) or one Newton step."""
        st, loss = self.st, self.st.loss
        sub = LinearLoss(st.design.subset(keep), loss.family, loss.y[keep], loss.weights[keep],
                         loss.l2)
        if self.verify:
            self.n_refits += 1
            res = exact_fit(sub, theta0)
            state = FittedState(sub, res.theta, res.hessian, res.factor)
        else:
            from ._solve import factorize

            step = factorize(sub.hessian(theta0)).solve(sub.gradient(theta0))
            state = FittedState(sub, theta0 - step)
        return state, float(self.bound.value(state.theta)[0])


def _needed(gains_sorted: np.ndarray, need: float) -> int | None:
    """Smallest k whose k largest gains sum past ``need`` (None if all of them do not)."""
    pos = gains_sorted[gains_sorted > 0]
    k = int(np.searchsorted(np.cumsum(pos), need, side="right")) + 1
    return k if k <= pos.size else None


def _greedy(s: _Search, method: str) -> tuple[np.ndarray, float, bool]:
    """Re-ranked greedy removal; returns (rows, value after removal, crossed)."""
    n = s.st.design.n_samples
    removed: list[int] = []
    state, value = s.st, s.f0
    while len(removed) < s.max_rows:
        keep = np.setdiff1d(np.arange(n), removed, assume_unique=True)
        g = s.gains(state, method)
        order = np.argsort(-g, kind="stable")
        order = order[g[order] > 0]
        if order.size == 0:
            break
        budget = s.max_rows - len(removed)
        k = _needed(g[order], s.sign * (value - s.t))
        b = max(1, math.ceil((k if k is not None and k <= budget else budget) / 2))
        b = min(b, budget, order.size)
        batch = keep[order[:b]]
        trial = removed + batch.tolist()
        keep_next = np.setdiff1d(np.arange(n), trial, assume_unique=True)
        try:
            state_next, value_next = s.retained(keep_next, state.theta)
        except (ConvergenceError, SingularHessianError):
            break  # the retained data have no finite or unique optimum
        logger.debug("greedy: %d rows removed, target %.6g", len(trial), value_next)
        if s.crossed(value_next) and s.verify and b > 1:
            # The last batch may overshoot: the shortest prefix of it that still crosses
            # (bisection by exact refits; the whole batch is known to cross).
            lo, hi = 0, b
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if s.crossed(s.exact(removed + batch[:mid].tolist())):
                    hi = mid
                else:
                    lo = mid
            rows = removed + batch[:hi].tolist()
            return np.asarray(rows, dtype=np.intp), s.exact(rows) if hi < b else value_next, True
        removed, state, value = trial, state_next, value_next
        if s.crossed(value):
            return np.asarray(removed, dtype=np.intp), value, True
    return np.asarray(removed, dtype=np.intp), value, False


def _one_shot(s: _Search, method: str) -> OneShotSet:
    """The prefix of a one-shot ranking that really flips, as small as found."""
    g = s.gains(s.st, method)
    order = np.argsort(-g, kind="stable")
    order = order[g[order] > 0][: s.max_rows]
    predicted = _needed(g[order], abs(s.f0 - s.t))
    none = OneShotSet(method, predicted, np.zeros(0, dtype=np.intp), np.nan, False)
    if order.size == 0 or not s.verify:
        return none
    # First candidate: the smallest prefix a Newton step predicts to cross (bisection).
    lo, hi = 0, order.size
    if not s.crossed(s.estimate(order[:hi], "newton")):
        hi = predicted if predicted is not None else order.size
    else:
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if s.crossed(s.estimate(order[:mid], "newton")):
                hi = mid
            else:
                lo = mid
    k, best = hi, None
    if s.crossed(s.exact(order[:k])):
        best = k
        for _ in range(ONE_SHOT_STEPS):  # step down while the refit still flips
            if k <= 1 or not s.crossed(s.exact(order[:k - 1])):
                break
            k -= 1
            best = k
    else:
        low = k
        for _ in range(ONE_SHOT_STEPS):  # step up geometrically, then bisect
            k = min(order.size, max(k + 1, math.ceil(k * 1.25)))
            if s.crossed(s.exact(order[:k])):
                best = k
                break
            low = k
            if k == order.size:
                break
        if best is not None:
            while best - low > 1:
                mid = (low + best) // 2
                if s.crossed(s.exact(order[:mid])):
                    best = mid
                else:
                    low = mid
    if predicted is not None and (best is None or predicted < best) \
            and s.crossed(s.exact(order[:predicted])):
        best = predicted  # AMIP's own prefix, when its refit flips, is a candidate too
    if best is None:
        return none
    rows = order[:best].astype(np.intp)
    return OneShotSet(method, predicted, rows, s.exact(rows), True)


def check_max_rows(max_rows, n: int) -> int:
    if max_rows is None:
        return max(1, n // 10)
    if isinstance(max_rows, (bool, np.bool_)) or not isinstance(max_rows, numbers.Integral):
        raise TypeError(f"max_rows must be an integer (the most rows the set may hold); got "
                        f"{max_rows!r} ({type(max_rows).__name__}).")
    if not 1 <= max_rows <= n:
        raise ValueError(f"max_rows must be between 1 and the number of training rows ({n}); "
                         f"got {max_rows}.")
    return int(max_rows)


def smallest_removal(state: FittedState, bound, *, max_rows: int, threshold: float,
                     verify: bool, method: str) -> RemovalAudit:
    """See :meth:`Attributor.smallest_removal`."""
    s = _Search(state, bound, threshold, max_rows, verify)
    rank = "if" if method == "if" else "rif"
    with warnings.catch_warnings():
        # Candidate sets may be singular or degenerate: they are simply not chosen.
        warnings.simplefilter("ignore", LeaveoutWarning)
        rows, value, crossed = _greedy(s, rank)
        baselines = (_one_shot(s, "if"), _one_shot(s, "rif"))
        candidates = [("greedy", rows, value)] if crossed else []
        candidates += [(f"one-shot {b.method}", b.rows, b.actual) for b in baselines if b.flipped]
        if candidates:
            found_by, rows, actual = min(candidates, key=lambda c: c[1].size)
        else:
            found_by, actual = "none", value if verify else np.nan
        predicted = s.estimate(rows, method) if rows.size else s.f0
    flipped = bool(verify and found_by != "none")
    if not verify:
        actual = np.nan
    return RemovalAudit(rows=rows.copy(), predicted=predicted, actual=float(actual),
                        flipped=flipped, value=s.f0, threshold=threshold, method=method,
                        max_rows=max_rows, found_by=found_by, n_refits=s.n_refits,
                        baselines=baselines,
                        greedy_size=int(candidates[0][1].size) if crossed and verify else None)
