"""Adopting fitted models: convert them to the sum convention of DESIGN.md §2.

Supported scikit-learn estimators (checked against scikit-learn 1.9's objectives):

=====================================  ==============  ===========================================
estimator                              family          l2 in Σ_i s_i ℓ_i + (l2/2)‖β‖²
=====================================  ==============  ===========================================
``LogisticRegression`` (binary, L2)    logistic        1 / C   (0 when C = inf or penalty=None)
``LogisticRegressionCV`` (refit=True)  logistic        1 / C_  (the C it chose)
``Ridge(alpha)``                       squared         alpha
``RidgeCV``                            squared         alpha_  (the alpha it chose)
``LinearRegression``                   squared         0
``PoissonRegressor(alpha)``            poisson         alpha · Σ_i s_i  (it minimises a mean)
=====================================  ==============  ===========================================

The cross-validated estimators are attributed at the penalty they chose, held fixed: the effects
answer "how would this fit change without these rows", not "how would the model selection change".
Likewise λ and class weights are computed once, on the full data, and held fixed for every removal
(the sum convention): a ``PoissonRegressor`` refitted by scikit-learn on the retained rows uses
alpha · Σ s over those rows, and ``class_weight="balanced"`` recomputes its weights, so such a
refit differs from ``retrain`` by that change of λ or weights.

scikit-learn is never imported here: estimators are recognised by class name and attributes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .families import Family, get_family
from .fitting import GLM

SUPPORTED = ("leaveout.GLM", "sklearn LogisticRegression / LogisticRegressionCV (binary, L2 "
             "penalty)", "sklearn Ridge / RidgeCV", "sklearn LinearRegression",
             "sklearn PoissonRegressor")


@dataclass
class Adopted:
    """A model in the sum convention.

    ``y_map`` turns the user's labels into the family's domain (e.g. classes → {0, 1});
    ``weight_map`` turns user sample weights into the s_i of the objective (e.g. class weights).
    ``l2_of`` gives λ from the effective sample weights.
    """

    family: Family
    fit_intercept: bool
    theta0: np.ndarray
    n_features: int
    source: str
    l2_of: callable
    y_map: callable = staticmethod(lambda y: y)
    weight_map: callable = staticmethod(lambda y, s: s)
    feature_names: np.ndarray | None = None


def _unsupported(model, why=""):
    return TypeError(
        f"Cannot attribute a {type(model).__module__}.{type(model).__name__}{why}. Supported "
        f"models: {', '.join(SUPPORTED)}. Refit with leaveout.fit(X, y, family=..., l2=...) "
        f"for anything else."
    )


def _require_fitted(model, name):
    if not hasattr(model, "coef_"):
        raise ValueError(f"This {name} is not fitted yet; call its fit(X, y) before attributing.")


def _theta(coef, intercept, fit_intercept, model=None):
    """θ₀ = (coef, intercept) of a fitted estimator, checked: it may have been edited."""
    name = type(model).__name__ if model is not None else "model"
    try:
        if coef is None or (fit_intercept and intercept is None):
            raise ValueError("None")  # np.asarray(None, float) would be a silent NaN
        coef = np.asarray(coef, dtype=np.float64).ravel()
        parts = [coef]
        if fit_intercept:
            b = np.asarray(intercept, dtype=np.float64).ravel()
            if b.size < 1:
                raise ValueError("empty intercept_")
            parts.append(b[:1])
        return np.concatenate(parts)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"The {name}'s coef_ / intercept_ are not arrays of numbers ({exc}). Were they changed "
            f"after fitting? Refit the model.") from None


def adopt(model) -> Adopted:
    """Describe ``model`` in the sum convention; raises TypeError for unsupported models."""
    adopted = _adopt(model)
    names = getattr(model, "feature_names_in_", None)
    adopted.feature_names = None if names is None else np.asarray(names, dtype=object)
    return adopted


def _penalty(value, name, model) -> float:
    """A fitted estimator's penalty parameter, checked (it may have been set after fitting)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        value = np.nan
    if not (value >= 0.0):  # also NaN
        raise ValueError(f"The {type(model).__name__}'s {name} must be a number >= 0; it is "
                         f"{value!r}. Was it changed after fitting? Refit the model.")
    return value


def _adopt(model) -> Adopted:
    if type(model).__name__ == "GLMCV" and type(model).__module__.startswith("leaveout"):
        if not hasattr(model, "model_"):
            raise ValueError("This leaveout.GLMCV is not fitted yet; call fit(X, y) first.")
        model = model.model_  # attributed at the penalty it chose, held fixed
    if isinstance(model, GLM):
        if not hasattr(model, "params_"):
            raise ValueError("This leaveout.GLM is not fitted yet; call fit(X, y) first.")
        # The settings it was fitted with (its parameters may have been changed since).
        l2 = model.l2_
        return Adopted(model.family_, model.fit_intercept_, model.params_.copy(),
                       model.n_features_in_, "leaveout.GLM", lambda s: l2)
    name = type(model).__name__
    module = type(model).__module__
    if not module.startswith("sklearn"):
        raise _unsupported(model)
    if name == "Pipeline":
        raise _unsupported(model, ": attribute its final step on the transformed features — "
                                  "Attributor(pipe[-1], pipe[:-1].transform(X), y) — which treats "
                                  "the fitted transformers as fixed")
    if name in ("LogisticRegression", "LogisticRegressionCV"):
        return _logistic(model, name)
    if name in ("Ridge", "RidgeCV", "LinearRegression"):
        return _ridge(model, name)
    if name == "PoissonRegressor":
        _require_fitted(model, name)
        alpha = _penalty(model.alpha, "alpha", model)
        fi = bool(model.fit_intercept)
        theta0 = _theta(model.coef_, model.intercept_, fi, model)
        return Adopted(get_family("poisson"), fi, theta0,
                       np.size(model.coef_), name, lambda s: alpha * float(s.sum()))
    raise _unsupported(model)


def _ridge(model, name):
    _require_fitted(model, name)
    coef = np.asarray(model.coef_)
    if coef.ndim != 1:
        raise ValueError(f"This {name} was fitted on {coef.shape[0]} responses; leaveout "
                         f"attributes one response at a time. Fit one model per column of y.")
    if getattr(model, "positive", False):
        raise _unsupported(model, " with positive=True (a constrained fit)")
    alpha = 0.0
    if name in ("Ridge", "RidgeCV"):
        alpha = np.asarray(model.alpha if name == "Ridge" else model.alpha_, dtype=np.float64)
        if alpha.ndim and alpha.size != 1:
            raise ValueError("Ridge with one alpha per target is not supported; use one alpha.")
        alpha = _penalty(alpha.ravel()[0] if alpha.ndim else alpha, "alpha", model)
    fi = bool(model.fit_intercept)
    return Adopted(get_family("squared"), fi, _theta(coef, model.intercept_, fi, model),
                   coef.size, name, lambda s: alpha)


def _logistic(model, name):
    _require_fitted(model, name)
    classes = np.asarray(model.classes_)
    if classes.size != 2:
        raise ValueError(
            f"This {name} has {classes.size} classes; only binary models are "
            f"supported so far. Fit one-vs-rest binary models (y == class_k) instead."
        )
    penalty = getattr(model, "penalty", "deprecated")
    if name == "LogisticRegressionCV":
        if not getattr(model, "refit", True):
            raise _unsupported(model, " with refit=False (its coefficients average the fold "
                                      "models, which is the optimum of no objective); refit=True")
        C = float(np.ravel(model.C_)[0])
        l1_ratio = np.ravel(np.asarray(model.l1_ratio_, dtype=object))[0]
        if l1_ratio is not None and np.isnan(float(l1_ratio)):
            l1_ratio = None
    else:
        C = _penalty(model.C, "C", model)
        l1_ratio = getattr(model, "l1_ratio", None)
    if not C > 0.0:
        raise ValueError(f"The {name}'s C must be a number > 0; it is {C!r}. Was it changed "
                         f"after fitting? Refit the model.")
    if penalty == "deprecated":  # scikit-learn >= 1.8: the penalty is given by l1_ratio
        has_l1 = l1_ratio not in (None, 0, 0.0)
    else:
        has_l1 = penalty in ("l1", "elasticnet") and not (penalty == "elasticnet" and
                                                         l1_ratio in (0, 0.0))
    if has_l1 and C != np.inf:
        raise _unsupported(model, f" with an L1 component (penalty={penalty!r}, "
                                  f"l1_ratio={l1_ratio!r}); only L2 penalties have the smooth "
                                  f"optimum that influence estimators need")
    l2 = 0.0 if (penalty is None or C == np.inf) else 1.0 / C
    fi = bool(model.fit_intercept)
    if fi and getattr(model, "solver", None) == "liblinear":
        raise _unsupported(model, " with solver='liblinear' and fit_intercept=True (liblinear "
                                  "penalises the intercept, through intercept_scaling, so it "
                                  "fits a different objective); refit with another solver, e.g. "
                                  "the default 'lbfgs'")
    coef = np.asarray(model.coef_)
    pos = classes[1]
    class_weight = getattr(model, "class_weight", None)

    def y_map(y):
        try:
            y = np.asarray(y)
            if y.ndim == 2 and y.shape[1] == 1:
                y = y[:, 0]
            unknown = ~np.isin(y, classes)
        except (TypeError, ValueError):
            raise TypeError(
                f"y must be a 1-D array of the {name}'s class labels {classes.tolist()}; it "
                f"could not be compared with them (missing values, mixed types, or ragged?)."
            ) from None
        if unknown.any():
            raise ValueError(
                f"y contains labels {list(dict.fromkeys(y[unknown].tolist()))[:5]} that the "
                f"{name} was not fitted on (its classes are {classes.tolist()})."
            )
        return (y == pos).astype(np.float64)

    def weight_map(y01, s):
        if class_weight is None:
            return s
        if class_weight == "balanced":  # n / (2 · class count), weighted by s
            total, s_pos = s.sum(), s[y01 == 1.0].sum()
            if not 0.0 < s_pos < total:
                raise ValueError(
                    f"The {name} has class_weight='balanced', but one class has zero total "
                    f"sample_weight here, so its balancing weight is infinite. Both classes "
                    f"need positive total weight.")
            cw = {1.0: total / (2.0 * s_pos), 0.0: total / (2.0 * (total - s_pos))}
        else:
            cw = {float(k == pos): float(v) for k, v in class_weight.items()}
        return s * np.where(y01 == 1.0, cw.get(1.0, 1.0), cw.get(0.0, 1.0))

    return Adopted(get_family("logistic"), fi, _theta(coef, model.intercept_, fi, model),
                   coef.shape[-1], name, lambda s: l2, y_map, weight_map)
