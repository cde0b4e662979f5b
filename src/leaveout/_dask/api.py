"""Entry points from the public API (``GLM.fit``, ``GLM.predict``, ``Attributor``) for Dask inputs."""

from __future__ import annotations

import numpy as np

from .. import _validation as v
from . import require_dask
from .compute import persist
from ..designs.dask import DaskDesign
from .inputs import dask_vector, dask_X, summarise, wrap_vector
from .loss import DaskLinearLoss, exact_fit
from .state import DaskFittedState

__all__ = ["DaskFittedState", "attributor_loss", "choice", "exact_fit", "linear_predictor", "loss_of",
           "plugin_rows"]


def choice(requested: str):
    """The solver of a Dask design: the p × p primal form, the only one that runs distributed."""
    from ..solvers import Choice

    if requested not in ("auto", "primal"):
        raise ValueError(
            f"solver={requested!r} is not available for Dask designs: they use the primal "
            f"form (per-block p × p Hessians summed across the workers). Use solver='auto' or "
            f"'primal'.")
    return Choice("primal", "a Dask design: per-block p × p Hessians summed across workers",
                  float("nan"), float("nan"))


def _identity_y(y):
    return y


def _identity_w(y, s):
    return s


def _map_y(yb, y_map):
    return np.asarray(y_map(np.asarray(yb)), dtype=np.float64).reshape(-1)


def _map_w(yb, sb, weight_map):
    return np.asarray(weight_map(yb, np.asarray(sb, dtype=np.float64)), dtype=np.float64)


def loss_of(X, y, sample_weight, family, fit_intercept: bool, *, l2=None, l2_of=None,
            y_map=None, weight_map=None, check_n_features=None):
    """Check Dask inputs and return ``(DaskLinearLoss, feature names or None)``.

    ``X`` is a Dask array (or DataFrame) chunked by rows; ``y`` and ``sample_weight`` Dask
    arrays with the same row chunks, or in-memory arrays (checked here, then chunked like X).
    ``l2`` is λ, or ``l2_of`` computes it from the effective weights (adopted models).
    ``y_map`` / ``weight_map`` (adopted models) are applied block by block.
    """
    da = require_dask()
    Xd, names = dask_X(X, allow_empty_columns=fit_intercept)
    design = DaskDesign(Xd, fit_intercept)
    if check_n_features is not None:
        check_n_features(design.n_features)
    n = design.n_samples
    y_map = y_map or _identity_y
    weight_map = weight_map or _identity_w
    yd = dask_vector(y, "y", design)
    if yd is None:  # in memory: the NumPy checks, then chunked like X
        yd, y_map = wrap_vector(v.check_y(y_map(y), n, family), design), _identity_y
    sd = None if sample_weight is None else dask_vector(sample_weight, "sample_weight", design)
    if sd is None:
        sd = (da.ones(n, chunks=(design.row_chunks,)) if sample_weight is None
              else wrap_vector(v.check_sample_weight(sample_weight, n), design))
    y_eff = persist(yd.map_blocks(_map_y, y_map, dtype=np.float64))
    s_eff = persist(da.map_blocks(_map_w, y_eff, sd, weight_map, dtype=np.float64))
    if l2 is None:
        l2 = float(l2_of(s_eff))
    summary = summarise(design, yd, sd, family, l2, y_map, weight_map)
    return DaskLinearLoss(design, family, y_eff, s_eff, l2, summary), names


def attributor_loss(adopted, model, X, y, sample_weight, check_n_features):
    """:func:`loss_of` for an adopted model (λ, label and weight maps from the adapter)."""
    if getattr(model, "class_weight", None) == "balanced":
        raise ValueError(
            "class_weight='balanced' needs the class totals of the whole data, which a Dask "
            "design does not provide block by block; refit the model with explicit class "
            "weights (class_weight={0: w0, 1: w1}) or pass the balanced weights as "
            "sample_weight.")
    return loss_of(X, y, sample_weight, adopted.family, adopted.fit_intercept,
                   l2_of=adopted.l2_of, y_map=adopted.y_map, weight_map=adopted.weight_map,
                   check_n_features=check_n_features)


def _plugin_block(db, bound, theta, base):
    return bound.values(theta + db) - base


def plugin_rows(bound, theta: np.ndarray, base: np.ndarray, deltas):
    """f(θ̂ + Δ_i) − f(θ̂) for each row of a lazy Dask array of Δ (n, p); lazy (n, m_out)."""
    return deltas.map_blocks(_plugin_block, bound, theta, base, dtype=np.float64,
                             chunks=(deltas.chunks[0], (base.shape[0],)))


def linear_predictor(X, coef: np.ndarray, intercept: float):
    """η = X β + b for a Dask X: a lazy Dask array chunked like X's rows."""
    Xd, _ = dask_X(X, allow_empty_columns=True)
    if Xd.shape[1] != coef.shape[0]:
        raise ValueError(f"X has {Xd.shape[1]} features, but the model was fitted with "
                         f"{coef.shape[0]}.")
    return DaskDesign(Xd, True).matvec(np.append(coef, intercept))
