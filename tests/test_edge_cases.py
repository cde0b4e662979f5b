"""A catalogue of bad and edge-case inputs; docs/edge-cases.md lists the same cases.

Every case is one of
- ``raises``: a ``ValueError`` / ``TypeError`` (or leaveout's subclasses of ``ValueError``) raised
  by leaveout itself — the exact class, a message excerpt naming what was wrong, and the
  traceback's last frame inside the leaveout package (not NumPy / SciPy / scikit-learn);
- ``warns``: legal but risky input: the specific leaveout warning, finite results (NaN only
  where the case is documented to return NaN);
- ``fine``: legal input: finite results, no leaveout warning, plus a case-specific check.
No case may emit a ``RuntimeWarning`` (overflow, invalid value, ...).
"""

from __future__ import annotations

import functools
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import leaveout
import leaveout.cv
from leaveout import targets
from leaveout import ConvergenceError, SingularHessianError
from leaveout import DegenerateRemovalWarning, HighLeverageWarning, IllConditionedWarning, PolishWarning
from conftest import make_data

pd = pytest.importorskip("pandas")
lm = pytest.importorskip("sklearn.linear_model")

PACKAGE = Path(leaveout.__file__).resolve().parent
DOC = Path(__file__).resolve().parents[1] / "docs" / "edge-cases.md"

X, Y = make_data("logistic", n=40, p=3, seed=0)          # 40 rows, 3 features, labels 0/1
YS = make_data("squared", n=40, p=3, seed=0)[1]           # a real-valued response on the same X
YP = make_data("poisson", n=40, p=3, seed=0)[1]           # counts on the same X


@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[], object]
    expect: type | None          # exception class, warning class, or None (fine)
    excerpt: str = ""            # literal part of the error / warning message
    nan: bool = False            # documented to return NaN (with the warning)
    check: Callable[[object], None] | None = None


def raises(id, exc, excerpt, call):
    return Case(id, call, exc, excerpt)


def warns(id, warning, excerpt, call, *, nan=False, check=None):
    return Case(id, call, warning, excerpt, nan, check)


def fine(id, call, check=None):
    return Case(id, call, None, "", False, check)


# -- shared models and data -------------------------------------------------------------------
@functools.cache
def base_att():
    return leaveout.Attributor(leaveout.fit(X, Y), X, Y)


def eff(*args, **kw):
    return lambda: base_att().effects(*args, **kw)


def fit(X_=X, y=Y, **kw):
    return lambda: leaveout.fit(X_, y, **kw)


def sk(make, X_=X, y=Y, att_y=None, att_X=None):
    """Fit a scikit-learn estimator quietly, then attribute it."""
    def call():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = make().fit(X_, y)
        return leaveout.Attributor(est, X_ if att_X is None else att_X,
                                   y if att_y is None else att_y)
    return call


def att_of(X_, y, *, family="logistic", l2=1.0, sample_weight=None,
           then=lambda a: a.effects("rif")):
    """Fit leaveout's GLM, attribute it, then return ``then(attributor)``."""
    def call():
        a = leaveout.Attributor(leaveout.fit(X_, y, family=family, l2=l2,
                                             sample_weight=sample_weight), X_, y, sample_weight)
        return then(a)
    return call


def same_as(reference):
    """Check: the result's parameters equal (bit for bit) those of ``reference()``."""
    def check(result):
        np.testing.assert_array_equal(result.params_, reference().params_)
    return check


def close_to(reference):
    """Check: the result's parameters equal those of ``reference()`` to 1e-9 (relative)."""
    def check(result):
        np.testing.assert_allclose(result.params_, reference().params_, rtol=1e-9, atol=1e-12)
    return check


def with_col(col):
    return np.column_stack([X, col])


rng = np.random.default_rng(0)
X_SEPARABLE_Y = (X[:, 0] > 0).astype(float)
X_QUASI = X.copy()
X_QUASI[:2, 0] = 0.0                                 # two rows on the separating hyperplane
Y_QUASI = (X_QUASI[:, 0] > 0).astype(float)
Y_QUASI[:2] = [0.0, 1.0]
# Poisson: column 3 is nonzero only on rows 0..4, all of which have count 0.
YP_SEP = YP.copy()
YP_SEP[:5] = 0.0
YP_SEP[5:] = np.maximum(YP_SEP[5:], 1.0)
X_POISSON_SEP = with_col(np.r_[np.ones(5), np.zeros(35)])
X_WIDE = rng.normal(size=(10, 20))
Y_WIDE = np.r_[np.zeros(5), np.ones(5)]
X_CONST = with_col(np.full(40, 3.7))
X_DUP = with_col(X[:, 0])
X_COLLINEAR = with_col(3.7 * X[:, 0] + X[:, 1])
# Row 0 alone has a nonzero in column 1: with l2 = 0 its leverage is exactly 1.
X_LEV1 = np.column_stack([X[:, 0], np.zeros(40)])
X_LEV1[0, 1] = 1.0
SW_ROW3_ZERO = np.ones(40)
SW_ROW3_ZERO[3] = 0.0


def nan_at(i, j):
    Z = X.copy()
    Z[i, j] = np.nan
    return Z


def params_finite(result):
    assert np.isfinite(result.params_).all()


def is_zero(result):
    np.testing.assert_array_equal(result, 0.0)


def effects_vanish(result):
    assert np.abs(result).max() < 1e-12


def leverages_in_unit_interval(result):
    assert (result >= 0).all() and (result < 1).all()


def row0_nan_others_finite(result):
    assert np.isnan(result[0]).all() and np.isfinite(result[1:]).all()


def all_nan(result):
    assert np.isnan(result).all()


def zero_weight_row_has_no_effect(result):
    rif, retrain = result
    np.testing.assert_array_equal(rif[3], 0.0)
    np.testing.assert_allclose(retrain, 0.0, atol=1e-13)


def equals_remove_1_2(result):
    np.testing.assert_array_equal(result, base_att().effects("rif", remove=[1, 2]))


def dup_rows_equal_weight_two(result):
    ref = leaveout.fit(X, Y, sample_weight=np.full(40, 2.0))
    np.testing.assert_allclose(result.params_, ref.params_, rtol=1e-12, atol=1e-14)


FIT_CASES = [
    raises("fit-nan-in-X", ValueError, "X contains 1 non-finite or missing value(s)",
           fit(nan_at(0, 0))),
    raises("fit-inf-in-y", ValueError, "y contains 1 non-finite or missing value(s)",
           fit(y=np.r_[Y[:-1], np.inf])),
    raises("fit-inf-in-sample-weight", ValueError, "sample_weight contains 1 non-finite",
           fit(sample_weight=np.r_[np.inf, np.ones(39)])),
    raises("fit-string-X", TypeError, "X must hold numbers; got an array of dtype <U",
           fit(X.astype(str))),
    raises("fit-object-X", TypeError, "X must hold numbers; got an array of dtype object",
           fit(X.astype(object))),
    raises("fit-complex-X", TypeError, "X is complex-valued", fit(X.astype(complex))),
    raises("fit-datetime-X", TypeError, "got an array of dtype datetime64",
           fit(np.datetime64("2020-01-01") + np.arange(120).reshape(40, 3))),
    fine("fit-bool-X", fit(X > 0), check=same_as(fit((X > 0).astype(float)))),
    raises("fit-string-y", TypeError, "Map the labels to 0/1 first",
           fit(y=np.where(Y == 1, "yes", "no"))),
    raises("fit-complex-y", TypeError, "y must be numeric; got dtype complex128",
           fit(y=Y.astype(complex))),
    raises("fit-1d-X", ValueError, "For a single feature use X.reshape(-1, 1)", fit(X[:, 0])),
    raises("fit-3d-X", ValueError, "got 3-D with shape (40, 3, 1)", fit(X[:, :, None])),
    raises("fit-y-two-columns", ValueError, "leaveout fits one response at a time",
           fit(y=np.column_stack([Y, 1 - Y]))),
    raises("fit-zero-rows", ValueError, "X has no rows (shape (0, 3))",
           fit(np.empty((0, 3)), np.empty(0))),
    raises("fit-empty-lists", ValueError, "got 1-D with shape (0,)", fit([], [])),
    raises("fit-zero-columns-no-intercept", ValueError, "X has no columns",
           fit(np.empty((40, 0)), fit_intercept=False)),
    raises("fit-ragged-X", TypeError, "X could not be converted to a numeric array",
           fit([[1.0, 2.0], [3.0]], [0.0, 1.0])),
    raises("fit-y-length-mismatch", ValueError, "y has 39 entries but X has 40 rows",
           fit(y=Y[:-1])),
    raises("fit-logistic-labels-outside-0-1", ValueError,
           "outside the domain of the 'logistic' family", fit(y=2 * Y)),
    raises("fit-poisson-negative-counts", ValueError,
           "outside the domain of the 'poisson' family", fit(y=YP - 1, family="poisson")),
    raises("fit-logistic-all-equal-labels", ConvergenceError,
           "Every label (with positive weight) is 1", fit(y=np.ones(40))),
    raises("fit-poisson-all-zero-counts", ConvergenceError, "Every count is 0",
           fit(y=np.zeros(40), family="poisson")),
    fine("fit-squared-all-equal-y", att_of(X, np.full(40, 2.5), family="squared"),
         check=effects_vanish),
    raises("fit-separable-l2-0", ConvergenceError, "perfectly (or quasi-) separable",
           fit(y=X_SEPARABLE_Y, l2=0.0)),
    raises("fit-quasi-separable-l2-0", ConvergenceError, "perfectly (or quasi-) separable",
           fit(X_QUASI, Y_QUASI, l2=0.0)),
    fine("fit-separable-l2-positive", att_of(X, X_SEPARABLE_Y)),
    raises("fit-poisson-zero-separation-l2-0", ConvergenceError,
           "the zero counts are separable from the others",
           fit(X_POISSON_SEP, YP_SEP, family="poisson", l2=0.0)),
    fine("fit-poisson-zero-separation-l2-positive",
         att_of(X_POISSON_SEP, YP_SEP, family="poisson")),
    raises("fit-p-greater-than-n-l2-0", SingularHessianError,
           "the model has 21 parameters but only 10 rows", fit(X_WIDE, Y_WIDE, l2=0.0)),
    fine("fit-p-greater-than-n-l2-positive",
         att_of(X_WIDE, Y_WIDE, then=lambda a: a.leverage), check=leverages_in_unit_interval),
    raises("fit-constant-column-l2-0", SingularHessianError,
           "column(s) [3] of X are constant (a copy of the intercept)",
           fit(X_CONST, YS, family="squared", l2=0.0)),
    fine("fit-constant-column-l2-positive", att_of(X_CONST, YS, family="squared")),
    raises("fit-zero-column-no-intercept-l2-0", SingularHessianError,
           "column(s) [3] of X are zero on every row",
           fit(with_col(np.zeros(40)), l2=0.0, fit_intercept=False)),
    raises("fit-duplicated-column-l2-0", SingularHessianError,
           "column 3 of X duplicates column 0", fit(X_DUP, l2=0.0)),
    raises("fit-collinear-columns-l2-0", SingularHessianError,
           "The Hessian at the optimum is numerically singular",
           fit(X_COLLINEAR, YS, family="squared", l2=0.0)),
    fine("fit-duplicated-column-l2-positive", att_of(X_DUP, Y)),
    fine("fit-duplicated-rows", fit(np.vstack([X, X]), np.r_[Y, Y]),
         check=dup_rows_equal_weight_two),
    fine("fit-zero-sample-weight-row",
         att_of(X, Y, sample_weight=SW_ROW3_ZERO,
                then=lambda a: (a.effects("rif"), a.effects("retrain", remove=[3]))),
         check=zero_weight_row_has_no_effect),
    raises("fit-negative-sample-weight", ValueError,
           "sample_weight must be non-negative; sample_weight[0] = -1.0",
           fit(sample_weight=np.r_[-1.0, np.ones(39)])),
    raises("fit-all-zero-sample-weights", ValueError, "sample_weight is zero for every row",
           fit(sample_weight=np.zeros(40))),
    raises("fit-sample-weight-wrong-shape", ValueError,
           "sample_weight must have shape (40,) to match X", fit(sample_weight=np.ones((40, 1)))),
    raises("fit-negative-l2", ValueError,
           "The 'l2' parameter of fit must be a float in [0, inf). Got -1.0 instead.",
           fit(l2=-1.0)),
    raises("fit-nan-l2", ValueError, "Got nan instead.", fit(l2=float("nan"))),
    raises("fit-string-l2", TypeError, "The 'l2' parameter of fit must be a float",
           fit(l2="1")),
    raises("fit-unknown-family", ValueError,
           "Unknown family 'gaussian'. Valid families are: logistic, poisson, squared.",
           fit(family="gaussian")),
    raises("fit-family-not-string", TypeError, "family must be a string", fit(family=None)),
    raises("fit-intercept-not-bool", TypeError,
           "The 'fit_intercept' parameter of fit must be a bool", fit(fit_intercept="yes")),
    raises("fit-max-iter-zero", ValueError, "The 'max_iter' parameter of fit must be an int",
           fit(max_iter=0)),
    raises("fit-polynomial-features-l2-0", SingularHessianError,
           "The Hessian at the optimum is numerically singular",
           fit(np.vander(X[:, 0] - X[:, 0].min(), 13)[:, :-1], YS, family="squared", l2=0.0)),
    raises("fit-max-iter-too-small", ConvergenceError,
           "did not converge in 1 Newton steps although its optimum is finite; raise max_iter",
           fit(max_iter=1)),
    raises("fit-warm-start-wrong-shape", ValueError, "warm_start must have shape (4,)",
           lambda: leaveout.GLM().fit(X, Y, warm_start=np.zeros(2))),
    raises("fit-warm-start-not-numeric", TypeError, "warm_start must be an array of 4 floats",
           lambda: leaveout.GLM().fit(X, Y, warm_start="zeros")),
    fine("fit-float32-X", fit(X.astype(np.float32)),
         check=same_as(fit(X.astype(np.float32).astype(np.float64)))),
    fine("fit-python-lists", fit(X.tolist(), Y.tolist()), check=same_as(fit())),
    raises("fit-pandas-string-column", TypeError, "non-numeric column(s) ['city']",
           lambda: leaveout.fit(pd.DataFrame({"a": X[:, 0], "city": ["Oslo"] * 40}), Y)),
    raises("fit-pandas-categorical-column", TypeError, "non-numeric column(s) ['grade']",
           lambda: leaveout.fit(pd.DataFrame({"a": X[:, 0],
                                              "grade": pd.Categorical(["a", "b"] * 20)}), Y)),
    raises("fit-pandas-nullable-with-NA", ValueError,
           "X contains 1 non-finite or missing value(s) (NaN, inf or pandas.NA), first at "
           "(row, column) (1, 0)",
           lambda: leaveout.fit(pd.DataFrame({"a": pd.array([1, None] + [0] * 38, dtype="Int64"),
                                              "b": X[:, 1]}), Y)),
    fine("fit-pandas-nullable-without-NA",
         lambda: leaveout.fit(pd.DataFrame({"a": pd.array(X[:, 0], dtype="Float64"),
                                            "b": pd.array(X[:, 1] > 0, dtype="boolean")}), Y),
         check=same_as(fit(np.column_stack([X[:, 0], X[:, 1] > 0])))),
    fine("fit-pandas-bool-and-float-columns",
         lambda: leaveout.fit(pd.DataFrame({"a": X[:, 0], "b": X[:, 1] > 0}), Y),
         check=same_as(fit(np.column_stack([X[:, 0], X[:, 1] > 0])))),
    raises("fit-pandas-nullable-y-with-NA", ValueError,
           "y contains 1 non-finite or missing value(s)",
           fit(y=pd.Series(pd.array([True, None] + [False, True] * 19, dtype="boolean")))),
    raises("fit-overflowing-features", ValueError,
           "X contains 120 value(s) larger than 1e+150 in magnitude", fit(X * 1e200)),
    raises("fit-overflowing-y", ValueError, "y contains 40 value(s) larger than 1e+150",
           fit(y=(YS + 100) * 1e200, family="squared")),
]

ATTRIBUTOR_CASES = [
    fine("att-badly-scaled-feature", att_of(X * [1.0, 1.0, 1e8], Y)),
    warns("att-ill-conditioned-collinear", IllConditionedWarning,
          "The Hessian is ill-conditioned even after rescaling",
          att_of(np.column_stack([X[:, :2], X[:, 0] + 1e-6 * np.cos(np.arange(len(Y)))]), Y,
                 l2=0.0)),
    warns("att-leverage-one-row", HighLeverageWarning, "Removing training row(s) 0 makes",
          att_of(X_LEV1, YS, family="squared", l2=0.0), nan=True, check=row0_nan_others_finite),
    warns("att-retrain-leverage-one-row", HighLeverageWarning,
          "Retraining without set 0 (rows 0) has no unique finite optimum",
          att_of(X_LEV1, YS, family="squared", l2=0.0,
                 then=lambda a: a.effects("retrain", remove=[0])), nan=True, check=all_nan),
    raises("att-data-not-the-fit-data", leaveout.ModelMismatchError,
           "does not look fitted on these X, y, sample_weight",
           lambda: leaveout.Attributor(leaveout.fit(X, Y), X + 1.0, Y)),
    raises("att-mismatched-width", ValueError,
           "X has 6 features, but the leaveout.GLM was fitted with 3",
           lambda: leaveout.Attributor(leaveout.fit(X, Y), np.hstack([X, X]), Y)),
    raises("att-y-length-mismatch", ValueError, "y has 39 entries but X has 40 rows",
           lambda: leaveout.Attributor(leaveout.fit(X, Y), X, Y[:-1])),
    raises("att-sample-weight-wrong-length", ValueError, "sample_weight must have shape (40,)",
           lambda: leaveout.Attributor(leaveout.fit(X, Y), X, Y, sample_weight=np.ones(5))),
    raises("att-labels-one-class", ConvergenceError, "Both classes must be present",
           lambda: leaveout.Attributor(leaveout.fit(X, Y), X, np.ones(40))),
    raises("att-unfitted-glm", ValueError, "This leaveout.GLM is not fitted yet",
           lambda: leaveout.Attributor(leaveout.GLM(), X, Y)),
    raises("att-not-a-model", TypeError, "Cannot attribute a builtins.object",
           lambda: leaveout.Attributor(object(), X, Y)),
]

SKLEARN_CASES = [
    raises("sk-unconverged-logistic", leaveout.ModelMismatchError,
           "if it stopped early, refit it with a larger max_iter",
           sk(lambda: lm.LogisticRegression(max_iter=1))),
    raises("sk-l1-logistic", TypeError, "with an L1 component",
           sk(lambda: lm.LogisticRegression(l1_ratio=1.0, solver="liblinear"))),
    raises("sk-elasticnet-logistic", TypeError, "with an L1 component",
           sk(lambda: lm.LogisticRegression(l1_ratio=0.5, solver="saga", max_iter=200))),
    raises("sk-multiclass-logistic", ValueError, "has 3 classes; only binary models",
           sk(lambda: lm.LogisticRegression(), y=np.arange(40) % 3)),
    raises("sk-unfitted-logistic", ValueError, "This LogisticRegression is not fitted yet",
           lambda: leaveout.Attributor(lm.LogisticRegression(), X, Y)),
    raises("sk-lasso", TypeError, "Lasso. Supported models:", sk(lm.Lasso)),
    raises("sk-sgdclassifier", TypeError, "SGDClassifier. Supported models:",
           sk(lambda: lm.SGDClassifier(loss="log_loss"))),
    fine("sk-pipeline", sk(lambda: __import__("sklearn.pipeline").pipeline.make_pipeline(
        lm.LogisticRegression(tol=1e-10))), close_to(sk(lambda: lm.LogisticRegression()))),
    raises("sk-logisticcv-norefit", TypeError, "with refit=False",
           sk(lambda: lm.LogisticRegressionCV(refit=False, Cs=3, cv=2, l1_ratios=(0.0,),
                                              use_legacy_attributes=False))),
    raises("sk-ridge-multioutput", ValueError, "This Ridge was fitted on 2 responses",
           sk(lm.Ridge, y=np.column_stack([YS, YS]))),
    raises("sk-ridge-positive", TypeError, "with positive=True (a constrained fit)",
           sk(lambda: lm.Ridge(positive=True), y=YS)),
    raises("sk-logistic-unknown-labels", ValueError,
           "that the LogisticRegression was not fitted on",
           sk(lm.LogisticRegression, att_y=Y + 5)),
    fine("sk-logistic-string-labels",
         sk(lambda: lm.LogisticRegression(tol=1e-10), y=np.where(Y == 1, "yes", "no")),
         check=close_to(lambda: leaveout.fit(X, Y))),
    raises("sk-logistic-no-penalty-separable", ConvergenceError,
           "perfectly (or quasi-) separable", sk(lambda: lm.LogisticRegression(C=np.inf),
                                                 y=X_SEPARABLE_Y)),
    raises("sk-linear-regression-p-gt-n", SingularHessianError,
           "the model has 4 parameters but only 3 rows",
           sk(lm.LinearRegression, X_=X[:3], y=YS[:3])),
    raises("sk-poisson-negative-y", ValueError, "outside the domain of the 'poisson' family",
           sk(lm.PoissonRegressor, y=YP, att_y=YP - 1)),
    raises("sk-width-mismatch", ValueError, "X has 2 features, but the Ridge was fitted with 3",
           sk(lm.Ridge, y=YS, att_X=X[:, :2])),
]


def every_method_gives_zero(kw):
    return lambda: np.stack([base_att().effects(m, **kw) for m in leaveout.METHODS])


EFFECTS_CASES = [
    fine("eff-empty-set", every_method_gives_zero(dict(remove=[])), check=is_zero),
    fine("eff-empty-sets-in-list", every_method_gives_zero(dict(remove=[[], []])),
         check=is_zero),
    raises("eff-repeated-index", ValueError, "remove repeats row index 1",
           eff("rif", remove=[1, 1])),
    raises("eff-out-of-range", ValueError,
           "remove contains row index 40, out of range for 40 training rows",
           eff("rif", remove=[40])),
    raises("eff-negative-index", ValueError, "remove contains the negative index -1",
           eff("rif", remove=[-1])),
    raises("eff-remove-every-row", ValueError, "remove removes all 40 training rows",
           eff("retrain", remove=list(range(40)))),
    raises("eff-mask-every-row", ValueError,
           "remove is a boolean mask that removes all 40 training rows",
           eff("retrain", remove=np.ones(40, dtype=bool))),
    raises("eff-mask-wrong-length", ValueError,
           "remove is a boolean mask of length 5, but there are 40 training rows",
           eff("rif", remove=np.ones(5, dtype=bool))),
    raises("eff-float-indices", TypeError,
           "remove must hold integer row indices; got non-integer values",
           eff("rif", remove=[1.5])),
    fine("eff-integer-valued-floats", eff("rif", remove=[1.0, 2.0]), check=equals_remove_1_2),
    raises("eff-huge-float-index", ValueError, "remove contains row index 1e+20, out of range",
           eff("rif", remove=[1e20])),
    raises("eff-nan-index", TypeError, "got non-integer values", eff("rif", remove=[np.nan])),
    raises("eff-python-set", TypeError, "not set; e.g. remove=[3, 17]",
           eff("rif", remove={1, 2})),
    raises("eff-dict", TypeError, "not dict", eff("rif", remove={1: 2})),
    raises("eff-string", TypeError, "not str", eff("rif", remove="12")),
    raises("eff-bare-int", TypeError, "Use remove=[3].", eff("rif", remove=3)),
    raises("eff-mixed-nesting", TypeError, "remove mixes integers and sequences",
           eff("rif", remove=[1, [2]])),
    raises("eff-3d-array", ValueError, "remove must be 1-D or 2-D",
           eff("rif", remove=np.zeros((2, 2, 2), dtype=int))),
    raises("eff-bad-set-in-list", ValueError, "remove[1] repeats row index 2",
           eff("rif", remove=[[1], [2, 2]])),
    raises("eff-unknown-method", ValueError,
           "Unknown method 'influence'. Valid methods are: if, rif, newton, retrain.",
           eff("influence")),
    raises("eff-method-not-string", TypeError, "method must be a string", eff(None)),
    raises("eff-linearize-not-bool", TypeError,
           "The 'linearize' parameter of effects must be a bool",
           eff("rif", target=targets.prediction(X[:2]), linearize="no")),
    raises("eff-target-not-a-target", TypeError, "target must be made by leaveout.targets",
           eff("rif", target=X[:3])),
    raises("eff-target-wrong-width", ValueError,
           "The target's query rows have 5 features, but the model has 3",
           eff("rif", target=targets.prediction(np.ones((2, 5))))),
    raises("eff-target-1d-query", ValueError, "the target's X must be 2-D",
           lambda: targets.prediction(X[0])),
    raises("eff-target-nan-query", ValueError, "the target's X contains 1 non-finite",
           lambda: targets.linear_predictor(nan_at(0, 1)[:2])),
    raises("eff-target-loss-missing-y", TypeError,
           "the target's y must be an array-like of shape (n_samples,); got None.",
           eff("rif", target=targets.loss(X[:3], None))),
    raises("eff-target-loss-y-wrong-length", ValueError,
           "the target's y has 2 entries but X has 3 rows",
           eff("rif", target=targets.loss(X[:3], Y[:2]))),
    raises("eff-target-loss-y-outside-domain", ValueError,
           "the target's y has 1 value(s) outside the domain",
           eff("rif", target=targets.loss(X[:2], [3.0, 0.0]))),
    raises("eff-unknown-target-kind", ValueError, "Unknown target kind 'gradient'",
           lambda: targets.Target("gradient", X)),
    raises("eff-unknown-reduce", ValueError, "reduce must be None, 'sum' or 'mean'; got 'max'.",
           lambda: targets.loss(X, Y, reduce="max")),
    warns("eff-retrain-leaves-one-class", HighLeverageWarning,
          "has no unique finite optimum (Every label (with positive weight) is 0",
          eff("retrain", remove=np.flatnonzero(Y == 1)), nan=True, check=all_nan),
    warns("eff-newton-leaves-one-class", DegenerateRemovalWarning,
          "leaves data with no finite optimum (no row of positive weight, one class only",
          eff("newton", remove=np.flatnonzero(Y == 1)), nan=True, check=all_nan),
]

# -- validation hardening (fuzz) --------------------------------------------------------------
X_MASKED = np.ma.masked_array(X, mask=np.zeros(X.shape, dtype=bool))
X_MASKED[2, 1] = np.ma.masked
# 1e400 where long double has the range for it (x86: 80-bit); elsewhere a value float64 holds.
LONGDOUBLE_IS_WIDER = np.finfo(np.longdouble).max > np.finfo(np.float64).max
X_LONGDOUBLE = X.astype(np.longdouble)
X_LONGDOUBLE[0, 0] = np.longdouble("1e400") if LONGDOUBLE_IS_WIDER else np.longdouble(1e200)

VALIDATION_HARDENING_CASES = [
    raises("eff-uint64-index-out-of-range", ValueError,
           "remove contains row index 18446744073709551615, out of range for 40 training rows",
           eff("rif", remove=np.array([2**64 - 1], dtype=np.uint64))),
    raises("eff-python-int-beyond-int64", ValueError,
           "remove contains row index 9223372036854775808, out of range",
           eff("rif", remove=[2**63])),
    raises("eff-dataframe-remove", TypeError,
           "remove is a pandas DataFrame, which iterates over its column names, not rows",
           eff("rif", remove=pd.DataFrame({"a": [1, 2]}))),
    raises("eff-none-in-remove", ValueError, "remove contains a missing value (None) at position 1",
           eff("rif", remove=[1, None])),
    raises("eff-nullable-NA-in-remove", ValueError,
           "remove contains a missing value (<NA>) at position 1",
           eff("rif", remove=pd.array([1, None], dtype="Int64"))),
    raises("eff-bools-mixed-with-ints", TypeError, "remove mixes booleans and integers",
           eff("rif", remove=[True, 2])),
    raises("fit-masked-X", ValueError,
           "X is a NumPy masked array with 1 masked entry, first at (row, column) (2, 1)",
           fit(X_MASKED)),
    raises("eff-target-masked-query", ValueError,
           "the target's X is a NumPy masked array with 1 masked entry",
           lambda: targets.prediction(X_MASKED[:5])),
    fine("fit-masked-X-nothing-masked", fit(np.ma.masked_array(X)), check=same_as(fit())),
    raises("fit-huge-int-l2", ValueError,
           "The 'l2' parameter of fit must be a float in [0, inf). Got ≈1e+400 instead, which "
           "is too large for a float64", fit(l2=10**400)),
    raises("fit-huge-int-in-sample-weight", ValueError,
           "sample_weight contains ≈1e+400, too large for a float64",
           fit(sample_weight=[10**400] + [1] * 39)),
    raises("fit-sample-weight-too-large", ValueError,
           "sample_weight has 40 value(s) larger than 1e+150, first sample_weight[0] = 1e+200",
           fit(sample_weight=np.full(40, 1e200))),
    raises("fit-sample-weight-subnormal", ValueError,
           "sample_weight has 1 positive value(s) smaller than 1e-150",
           fit(sample_weight=np.r_[1e-320, np.ones(39)])),
    fine("fit-sample-weight-and-l2-scaled-together",
         fit(sample_weight=np.full(40, 1e100), l2=1e100), check=close_to(lambda: leaveout.fit(X, Y))),
    raises("fit-ragged-sample-weight", TypeError,
           "sample_weight could not be converted to a numeric array: it is ragged",
           fit(sample_weight=[1, [1, 2], 3])),
    raises("fit-ragged-y", TypeError, "y could not be converted to a numeric array: it is ragged",
           fit(X[:3], [1, [1, 0], 0])),
    raises("fit-longdouble-X-too-large", ValueError,
           "X contains 1 value(s) larger than 1e+150 in magnitude, first at (row, column) (0, 0)",
           fit(X_LONGDOUBLE)),
]

# -- model and data consistency (fuzz) ------------------------------------------------------------
DF = pd.DataFrame(X, columns=["a", "b", "c"])
DF_SWAPPED = DF[["c", "b", "a"]]


def glm_then(then, X_=DF, y=Y, **kw):
    """Fit leaveout's GLM on ``X_`` and return ``then(model)``."""
    return lambda: then(leaveout.fit(X_, y, **kw))


def nan_params_model():
    m = leaveout.fit(X, Y)
    m.params_ = np.full(4, np.nan)
    return m


def changed_after_fit():
    m = leaveout.fit(X, Y)
    m.fit_intercept, m.l2 = False, "x"
    return m


def poisson_far():
    a = leaveout.Attributor(leaveout.fit(X, YP, family="poisson"), X, YP)
    return a.evaluate(targets.prediction(X[:3] * 1e4))


CONSISTENCY_CASES = [
    raises("glm-predict-reordered-columns", ValueError,
           "X has feature names that differ from those the GLM was fitted with (the same names "
           "in another order)", glm_then(lambda m: m.predict(DF_SWAPPED))),
    raises("glm-predict-renamed-column", ValueError, "names the GLM was not fitted on: ['z']",
           glm_then(lambda m: m.predict(DF.rename(columns={"a": "z"})))),
    raises("att-reordered-columns", ValueError, "the same names in another order",
           glm_then(lambda m: leaveout.Attributor(m, DF_SWAPPED, Y))),
    raises("eff-target-reordered-columns", ValueError, "The target's X has feature names",
           glm_then(lambda m: leaveout.Attributor(m, DF, Y).effects(
               "rif", target=targets.prediction(DF_SWAPPED)))),
    raises("sk-reordered-columns", ValueError,
           "feature names that differ from those the LogisticRegression was fitted with",
           sk(__import__("sklearn.linear_model").linear_model.LogisticRegression, X_=DF,
              att_X=DF_SWAPPED)),
    raises("glm-predict-unfitted", ValueError, "This GLM is not fitted yet",
           lambda: leaveout.GLM().predict(X)),
    raises("sk-liblinear-intercept", TypeError, "with solver='liblinear' and fit_intercept=True",
           sk(lambda: __import__("sklearn.linear_model").linear_model.LogisticRegression(
               solver="liblinear"))),
    raises("sk-balanced-zero-class-weight", ValueError,
           "one class has zero total sample_weight here",
           lambda: leaveout.Attributor(
               __import__("sklearn.linear_model").linear_model.LogisticRegression(
                   class_weight="balanced").fit(X, Y), X, Y,
               sample_weight=np.where(Y == 1, 0.0, 1.0))),
    raises("sk-mixed-label-types", ValueError,
           "y contains labels [None, 5] that the LogisticRegression was not fitted on",
           sk(__import__("sklearn.linear_model").linear_model.LogisticRegression,
              y=np.where(Y == 1, "yes", "no"),
              att_y=np.array(list(np.where(Y == 1, "yes", "no")[:-2]) + [None, 5], dtype=object))),
    raises("sk-negative-alpha-after-fit", ValueError, "Was it changed after fitting?",
           lambda: leaveout.Attributor(_ridge_with_alpha(-1.0), X, YS)),
    fine("att-glm-params-changed-after-fit", lambda: leaveout.Attributor(changed_after_fit(), X, Y),
         check=close_to(lambda: leaveout.Attributor(leaveout.fit(X, Y), X, Y))),
    warns("att-nan-params", PolishWarning, "contain NaN or inf, so it cannot be polished",
          lambda: leaveout.Attributor(nan_params_model(), X, Y, refit_ok=True)),
    warns("att-adopted-on-rescaled-X", PolishWarning, "was it fitted on other data?",
          lambda: leaveout.Attributor(leaveout.fit(X, YP, family="poisson"), X * 100, YP,
                                      refit_ok=True)),
    raises("fit-warm-start-nonfinite", ValueError, "warm_start must be finite",
           lambda: leaveout.GLM().fit(X, Y, warm_start=np.full(4, np.inf))),
    raises("fit-warm-start-complex", TypeError, "warm_start must be an array of 4 floats",
           lambda: leaveout.GLM().fit(X, Y, warm_start=np.zeros(4) + 1j)),
    raises("eval-nan-params", ValueError, "params contains NaN or inf",
           lambda: base_att().evaluate(targets.prediction(X[:2]), params=np.full(4, np.nan))),
    raises("eval-ragged-params", TypeError, "ragged or not numbers",
           lambda: base_att().evaluate(targets.prediction(X[:2]), params=[[0, 0, 0, 0], [0]])),
    raises("eval-poisson-overflow", ValueError, "The target (prediction) overflows float64 at row(s)",
           poisson_far),
    raises("eff-checkpoint-not-a-path", TypeError, "checkpoint must be a directory path",
           eff("retrain", remove=[[1]], checkpoint=5)),
    raises("sk-intercept-edited-to-none", ValueError,
           "The Ridge's coef_ / intercept_ are not arrays of numbers",
           lambda: leaveout.Attributor(_edited_ridge(intercept_=None), X, YS)),
    raises("sk-coef-edited-to-strings", ValueError, "Were they changed after fitting?",
           lambda: leaveout.Attributor(_edited_ridge(coef_=np.array(["a", "b", "c"])), X, YS)),
    raises("fit-uncentered-columns", SingularHessianError,
           "next to the intercept it is nearly constant. Centre X (X - X.mean(axis=0))",
           fit(X + 1e8)),
    raises("fit-tiny-X-no-penalty", SingularHessianError,
           "products of such values underflow float64. Rescale X",
           fit(X * 1e-300, YS, family="squared", l2=0.0)),
    raises("fit-y-index-not-aligned", ValueError,
           "y and X are pandas objects with different row indexes",
           lambda: leaveout.fit(DF, pd.Series(Y, index=DF.index[::-1]))),
    raises("att-weight-index-not-aligned", ValueError,
           "sample_weight and X are pandas objects with different row indexes",
           lambda: leaveout.Attributor(leaveout.fit(DF, Y), DF, pd.Series(Y, index=DF.index),
                                       sample_weight=pd.Series(1.0, index=DF.index + 1))),
]


# -- Dask inputs (docs/edge-cases.md, "Dask inputs"); dask is imported only when a case runs --
def _dask(a, chunks=10):
    da = pytest.importorskip("dask.array")
    return da.from_array(a, chunks=(chunks,) + a.shape[1:])


def dask_fit(X_=X, y=Y, *, x_chunks=None, y_chunks=10, **kw):
    def call():
        Xd = _dask(X_) if x_chunks is None else _dask(X_).rechunk(x_chunks)
        return leaveout.fit(Xd, _dask(y, y_chunks) if y is not None else None, **kw)
    return call


def _dask_unknown_chunks():
    Xd, yd = _dask(X), _dask(Y)
    keep = Xd[:, 0] > -100.0  # every row, but Dask cannot know how many
    return leaveout.fit(Xd[keep], yd[keep])


def _dask_att(**kw):
    Xd, yd = _dask(X), _dask(Y)
    return leaveout.Attributor(leaveout.fit(Xd, yd), Xd, yd).effects("retrain", **kw)


def _dask_balanced():
    est = lm.LogisticRegression(class_weight="balanced").fit(X, Y)
    return leaveout.Attributor(est, _dask(X), _dask(Y))


def _dask_zero_weight_block():
    w = np.ones(40)
    w[10:20] = 0.0
    return leaveout.Attributor(leaveout.fit(X, Y, sample_weight=w), _dask(X), _dask(Y),
                               sample_weight=_dask(w))


def _dask_numpy_y():
    return leaveout.fit(_dask(X), Y)


def _with_nan(a, i, j=None):
    a = a.copy()
    a[i if j is None else (i, j)] = np.nan
    return a


DASK_CASES = [
    raises("dask-x-chunked-by-features", ValueError, "X = X.rechunk({1: -1})",
           dask_fit(x_chunks=(10, 2))),
    raises("dask-unknown-chunk-sizes", ValueError, "Call X.compute_chunk_sizes() first",
           _dask_unknown_chunks),
    raises("dask-y-chunks-not-aligned", ValueError, "do not line up with X's row chunks",
           dask_fit(y_chunks=15)),
    raises("dask-object-X", TypeError, "X is a Dask array of dtype object",
           dask_fit(X.astype(object))),
    raises("dask-object-y", TypeError, "y is a Dask array of dtype object",
           dask_fit(y=Y.astype(object))),
    raises("dask-nan-in-a-block", ValueError,
           "In X's Dask block of rows 20 to 29; positions in the message count from row 20: X "
           "contains 1 non-finite", dask_fit(_with_nan(X, 25, 1))),
    raises("dask-label-outside-domain", ValueError, "In y's Dask block of rows 30 to 39",
           dask_fit(y=np.where(np.arange(40) == 33, 2.0, Y))),
    raises("dask-one-class", ConvergenceError, "Every label (with positive weight) is 0",
           dask_fit(y=np.zeros(40))),
    raises("dask-balanced-class-weight", ValueError,
           "class_weight='balanced' needs the class totals", _dask_balanced),
    raises("dask-retrain-checkpoint-not-a-path", TypeError,
           "checkpoint must be a directory path", lambda: _dask_att(remove=[[1]], checkpoint=3)),
    raises("dask-query-rows-per-row-target", ValueError,
           "A target whose query rows are a Dask array must be a scalar",
           lambda: leaveout.targets.loss(_dask(X), _dask(Y))),
    raises("dask-query-rows-per-row-plugin", ValueError,
           "Per-row plug-in effects on a target whose query rows are a Dask array",
           lambda: leaveout.Attributor(leaveout.fit(X, Y), X, Y).effects(
               "rif", target=leaveout.targets.loss(_dask(X), _dask(Y), reduce="sum"))),
    raises("dask-query-nan", ValueError, "In the target's Dask block of query rows 10 to 19",
           lambda: leaveout.Attributor(leaveout.fit(X, Y), X, Y).evaluate(
               leaveout.targets.prediction(_dask(_with_nan(X, 12, 0)), reduce="sum"))),
    fine("dask-zero-weight-block", _dask_zero_weight_block),
    fine("dask-numpy-y", _dask_numpy_y,
         check=lambda m: np.testing.assert_allclose(m.params_, leaveout.fit(X, Y).params_,
                                                    rtol=1e-12)),
]


# -- answers: leave-one-out, GLMCV, robustness audits (issue 13) -----------------------------
def _cv(**kw):
    return lambda: leaveout.GLMCV(**kw).fit(X, Y).loo_risk_


def _wide_squared_cv(l2s):
    Xw = np.random.default_rng(1).normal(size=(10, 20))
    return lambda: leaveout.GLMCV(family="squared", l2s=l2s).fit(Xw, YS[:10]).loo_risk_


def _zero_weight_loo():
    s = np.ones(40)
    s[3] = 0.0
    return leaveout.Attributor(leaveout.fit(X, Y, sample_weight=s), X, Y, s).self_influence()


def _leverage_one_loo():
    Z = np.column_stack([X, np.zeros(40)])
    Z[5, 3] = 1.0
    return leaveout.Attributor(leaveout.fit(Z, YS, family="squared", l2=0.0), Z,
                               YS).loo_linear_predictor()


def _row5_nan_others_finite(result):
    assert np.isnan(result[5]) and np.isfinite(np.delete(result, 5)).all()


def _row3_zero(result):
    assert result[3] == 0.0


def _nan_at_1(result):
    assert np.isnan(result[1]) and np.isfinite(result[[0, 2]]).all()


ANSWERS_CASES = [
    raises("loo-unknown-method", ValueError, "Unknown method 'loo'",
           lambda: base_att().loo_linear_predictor("loo")),
    raises("loo-checkpoint-not-retrain", ValueError,
           "checkpoint applies to method='retrain' only",
           lambda: base_att().self_influence("rif", checkpoint="refits")),
    fine("loo-zero-weight-row", _zero_weight_loo, _row3_zero),
    warns("loo-leverage-one-row", HighLeverageWarning, "makes the problem singular",
          _leverage_one_loo, nan=True, check=_row5_nan_others_finite),
    raises("cv-empty-path", ValueError, "The 'l2s' parameter of GLMCV is empty", _cv(l2s=[])),
    raises("cv-negative-penalty", ValueError, "contains negative penalties",
           _cv(l2s=[1.0, -1.0])),
    raises("cv-nan-penalty", ValueError, "contains NaN or inf at position(s) [1]",
           _cv(l2s=[1.0, np.nan])),
    raises("cv-inf-penalty", ValueError, "contains NaN or inf at position(s) [0]",
           _cv(l2s=[np.inf])),
    raises("cv-2d-path", ValueError, "must be 1-D; got shape (1, 2)", _cv(l2s=[[1.0, 2.0]])),
    raises("cv-string-path", TypeError, "must hold numbers", _cv(l2s=["a"])),
    raises("cv-scalar-path", TypeError, "must be None or a 1-D sequence of penalties",
           _cv(l2s=1.0)),
    raises("cv-unknown-method", ValueError, "Unknown method 'kfold'", _cv(method="kfold")),
    raises("cv-predict-unfitted", ValueError, "This GLMCV is not fitted yet",
           lambda: leaveout.GLMCV().predict(X)),
    warns("cv-unfittable-penalty", leaveout.cv.PathFitWarning, "could not fit 1 of 3 penalties",
          _wide_squared_cv([1.0, 0.0, 10.0]), nan=True, check=_nan_at_1),
    raises("cv-no-fittable-penalty", ValueError, "could not score any of the 1 penalties",
           _wide_squared_cv([0.0])),
    raises("coef-unknown-name", ValueError, "targets.coefficient('age'): the model has no "
           "parameter of that name", lambda: base_att().evaluate(targets.coefficient("age"))),
    raises("coef-index-out-of-range", ValueError, "targets.coefficient(4) is out of range",
           lambda: base_att().evaluate(targets.coefficient(4))),
    raises("coef-negative-index", ValueError, "targets.coefficient index must be >= 0",
           lambda: targets.coefficient(-1)),
    raises("coef-float-index", TypeError, "takes a parameter's index (int) or a feature name",
           lambda: targets.coefficient(0.0)),
    raises("audit-vector-target", ValueError, "smallest_removal needs a scalar target",
           lambda: base_att().smallest_removal(targets.prediction(X[:3]))),
    raises("audit-zero-budget", ValueError, "max_rows must be between 1 and the number of "
           "training rows (40); got 0",
           lambda: base_att().smallest_removal(targets.coefficient(0), max_rows=0)),
    raises("audit-budget-above-n", ValueError, "got 41",
           lambda: base_att().smallest_removal(targets.coefficient(0), max_rows=41)),
    raises("audit-nan-threshold", ValueError, "threshold must be None (sign flip) or a finite "
           "number", lambda: base_att().smallest_removal(targets.coefficient(0),
                                                         threshold=np.nan)),
    raises("audit-at-threshold", ValueError, "The target already equals the threshold",
           lambda: base_att().smallest_removal(targets.coefficient(0),
                                               threshold=float(base_att().params_[0]))),
    fine("audit-no-flip-in-budget",
         lambda: base_att().smallest_removal(targets.coefficient(0), max_rows=1),
         lambda r: (not r.flipped and r.size == 1 and np.isfinite(r.actual)) or
         pytest.fail(str(r))),
]


def _edited_ridge(**attrs):
    from sklearn.linear_model import Ridge

    est = Ridge().fit(X, YS)
    for k, val in attrs.items():
        setattr(est, k, val)
    return est


def _ridge_with_alpha(alpha):
    from sklearn.linear_model import Ridge

    est = Ridge().fit(X, YS)
    est.alpha = alpha
    return est


# -- sparse X (scipy.sparse): conversions and refusals at the boundary --------------------------
def _sp():
    import scipy.sparse as sp
    return sp


def _csr_with(data=None, indices=None, indptr=None, shape=None, dtype=None):
    """A CSR matrix of X with replaced parts, built without scipy's checks (as a user's
    hand-built matrix may be)."""
    base = _sp().csr_matrix(X)
    M = _sp().csr_matrix(X.shape)
    M.data = base.data.copy() if data is None else data
    M.indices = base.indices.copy() if indices is None else indices
    M.indptr = base.indptr.copy() if indptr is None else indptr
    if dtype is not None:
        M.data = M.data.astype(dtype)
    if shape is not None:
        M._shape = shape
    return M


def _unsorted_with_duplicates():
    """X as CSR with each row's entries reversed and its first entry split in two halves."""
    rows, cols, vals = [], [], []
    for i in range(X.shape[0]):
        for j in reversed(range(X.shape[1])):
            if j == 0:
                rows += [i, i]; cols += [0, 0]; vals += [X[i, 0] / 2, X[i, 0] / 2]
            else:
                rows.append(i); cols.append(j); vals.append(X[i, j])
    M = _sp().coo_matrix((vals, (rows, cols)), shape=X.shape)
    return _sp().csr_matrix((M.data, M.col, np.searchsorted(M.row, np.arange(X.shape[0] + 1))),
                            shape=X.shape)


def _sparse_nan():
    M = _sp().csr_matrix(X)
    M.data[5] = np.nan
    return M


def _sparse_target_effects():
    att = base_att()
    dense = att.effects("rif", target=targets.prediction(X[:5]))
    sparse = att.effects("rif", target=targets.prediction(_sp().csr_matrix(X[:5])))
    np.testing.assert_allclose(sparse, dense, rtol=1e-12, atol=1e-15)
    return sparse


def _sklearn_on_sparse():
    from sklearn.linear_model import LogisticRegression

    Xs = _sp().csr_matrix(X)
    est = LogisticRegression(C=1.0, tol=1e-10, max_iter=1000).fit(Xs, Y)
    return leaveout.Attributor(est, Xs, Y)


def _with_memory_limit(limit, call):
    """Run ``call`` with leaveout.solvers.MEMORY_LIMIT set to ``limit`` bytes."""
    def run():
        from leaveout import solvers
        old = solvers.MEMORY_LIMIT
        solvers.MEMORY_LIMIT = limit
        try:
            return call()
        finally:
            solvers.MEMORY_LIMIT = old
    return run


def _wide():
    rng = np.random.default_rng(2)
    Xw = _sp().random(30, 900, density=0.05, random_state=rng, format="csr")
    return Xw, (rng.random(30) < 0.5).astype(float)


def _wide_att(**kw):
    Xw, yw = _wide()
    return leaveout.Attributor(leaveout.fit(Xw, yw), Xw, yw, **kw)


SPARSE_CASES = [
    fine("sparse-wide-kernel-form", lambda: _wide_att(),
         check=lambda att: np.testing.assert_equal(att.solver_, "kernel")),
    raises("solver-kernel-l2-0", ValueError, "solver='kernel' needs l2 > 0",
           fit(X, YS, family="squared", l2=0.0, solver="kernel")),
    raises("solver-unknown", ValueError, "The 'solver' parameter of fit must be one of",
           fit(solver="dense")),
    raises("att-solver-unknown", ValueError,
           "The 'solver' parameter of Attributor must be one of",
           lambda: leaveout.Attributor(leaveout.fit(X, Y), X, Y, solver="dense")),
    raises("att-cg-rtol-bad", ValueError, "The 'rtol' parameter of Attributor must be a float in (0, 1)",
           lambda: leaveout.Attributor(leaveout.fit(X, Y), X, Y, solver="cg", rtol=-1e-8)),
    raises("att-cg-probes-zero", ValueError,
           "The 'probes' parameter of Attributor must be an int in [1, inf)",
           lambda: leaveout.Attributor(leaveout.fit(X, Y), X, Y, solver="cg", probes=0)),
    raises("att-cg-all-rows", leaveout.ProblemTooLargeError,
           "With solver='cg' the parameter effects of every row are not available",
           lambda: _wide_att(solver="cg").effects("rif")),
    raises("solver-primal-too-large", leaveout.ProblemTooLargeError,
           "The primal form for n=30 rows and p=901 parameters needs",
           _with_memory_limit(4 << 20, lambda: _wide_att(solver="primal"))),
    raises("eff-all-rows-too-large", leaveout.ProblemTooLargeError,
           "Ask for the effects on a target instead",
           _with_memory_limit(200_000, lambda: _wide_att().effects("rif"))),
    fine("sparse-csr-X", fit(_sp().csr_matrix(X)), check=close_to(fit())),
    fine("sparse-csc-X", fit(_sp().csc_matrix(X)), check=close_to(fit())),
    fine("sparse-coo-X", fit(_sp().coo_matrix(X)), check=close_to(fit())),
    fine("sparse-array-X", fit(_sp().csr_array(X)), check=close_to(fit())),
    fine("sparse-integer-X", fit(_sp().csr_matrix(np.round(3 * X).astype(np.int64))),
         check=close_to(fit(np.round(3 * X)))),
    fine("sparse-bool-X", fit(_sp().csr_matrix(X > 0)), check=close_to(fit((X > 0) * 1.0))),
    fine("sparse-unsorted-duplicate-indices", fit(_unsorted_with_duplicates()),
         check=close_to(fit())),
    fine("sparse-explicit-zeros",
         fit(_sp().csr_matrix((np.r_[X.ravel(), 0.0], np.r_[np.tile(np.arange(3), 40), 1],
                               np.r_[np.arange(0, 120, 3), 121]), shape=(40, 3))),
         check=close_to(fit())),
    raises("sparse-complex-X", TypeError, "X is a complex-valued sparse matrix",
           fit(_sp().csr_matrix(X.astype(complex)))),
    raises("sparse-nan-entry", ValueError, "X contains 1 non-finite stored value(s) (NaN or inf)",
           fit(_sparse_nan())),
    raises("sparse-huge-entry", ValueError, "X contains 1 value(s) larger than 1e+150",
           fit(_sp().csr_matrix(np.where(np.arange(120).reshape(40, 3) == 7, 1e200, X)))),
    raises("sparse-zero-rows", ValueError, "X has no rows (shape (0, 3))",
           fit(_sp().csr_matrix((0, 3)), Y[:0])),
    raises("sparse-zero-columns-no-intercept", ValueError, "X has no columns",
           fit(_sp().csr_matrix((40, 0)), fit_intercept=False)),
    raises("sparse-column-index-out-of-range", ValueError,
           "column indices must lie in [0, 3), got 0..7",
           fit(_csr_with(indices=np.where(np.arange(120) == 4, 7, np.tile(np.arange(3), 40))
                         .astype(np.int32)))),
    raises("sparse-negative-index", ValueError, "may have overflowed: build the indices as int64",
           fit(_csr_with(indices=np.where(np.arange(120) == 4, -5, np.tile(np.arange(3), 40))
                         .astype(np.int32)))),
    raises("sparse-bad-indptr", ValueError, "its indptr is not a non-decreasing array",
           fit(_csr_with(indptr=np.arange(0, 123, 3)[::-1].copy()))),
    fine("sparse-query-rows", _sparse_target_effects),
    fine("sparse-sklearn-model", _sklearn_on_sparse,
         check=lambda att: np.testing.assert_allclose(
             att.params_, leaveout.Attributor(leaveout.fit(X, Y), X, Y).params_, rtol=1e-9)),
]


# -- pipelines and labelled results (issue 12) ------------------------------------------------
DFX = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "city": np.where(X[:, 2] > 0, "Oslo", "Rome")})


def _pipe(*steps):
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = ColumnTransformer([("num", StandardScaler(), ["a", "b"]),
                              ("cat", OneHotEncoder(sparse_output=False), ["city"])])
    return make_pipeline(prep, *steps)


def pipe_att(then=lambda a: a, final=lambda: lm.LogisticRegression(tol=1e-12), fit=True):
    def call():
        pipe = _pipe(final())
        if fit:
            pipe.fit(DFX, Y)
        return then(leaveout.Attributor(pipe, DFX, Y))
    return call


def _transformed_query(a):
    prep = a.pipeline_[0]
    Z = pd.DataFrame(prep.transform(DFX.iloc[:3]), columns=prep.get_feature_names_out())
    return a.effects(target=targets.linear_predictor(Z))


PIPELINE_CASES = [
    fine("pipe-column-transformer", pipe_att()),
    raises("pipe-transformed-query", ValueError, "have the pipeline's transformed columns",
           pipe_att(_transformed_query)),
    raises("pipe-query-missing-columns", ValueError,
           "could not transform the target's query rows",
           pipe_att(lambda a: a.effects(target=targets.linear_predictor(DFX[["a", "b"]])))),
    raises("pipe-not-fitted", ValueError, "The Pipeline's transformers are not fitted",
           pipe_att(fit=False)),
    raises("pipe-unsupported-final-step", TypeError, "Cannot attribute a",
           pipe_att(final=lambda: __import__("sklearn.svm").svm.LinearSVC())),
    raises("top-bad-k", ValueError, "k must be an integer >= 1",
           lambda: base_att().top(targets.linear_predictor(X[:2]), k=0)),
    raises("frame-as-frame-not-bool", TypeError, "The 'as_frame' parameter of effects must be a bool",
           eff("rif", as_frame="yes")),
]


# -- refined Newton steps (effects("newton", steps=k)) ----------------------------------------
def poisson_zeros_removed(steps):
    """Poisson with 30 zero counts and 10 counts of 10: removing the zeros quadruples the rate."""
    Xp = np.random.default_rng(1).normal(size=(40, 2)) * 0.1
    yp = np.where(np.arange(40) < 30, 0.0, 10.0)
    att = leaveout.Attributor(leaveout.fit(Xp, yp, family="poisson", l2=1.0), Xp, yp)
    return lambda: att.effects("newton", remove=np.arange(30), steps=steps)


def squared_steps_exact(result):
    retrain = att_of(X, YS, family="squared",
                     then=lambda a: a.effects("retrain", remove=[1, 5, 9]))()
    np.testing.assert_allclose(result, retrain, rtol=1e-9)


NEWTON_STEPS_CASES = [
    raises("eff-steps-with-rif", ValueError, "steps applies to method='newton' only",
           eff("rif", remove=[1], steps=3)),
    raises("eff-tol-with-retrain", ValueError, "tol applies to method='newton' only",
           eff("retrain", remove=[1], tol=1e-6)),
    raises("eff-steps-zero", ValueError, "The 'steps' parameter of effects must be a positive int",
           eff("newton", remove=[1], steps=0)),
    raises("eff-steps-float", TypeError, "The 'steps' parameter of effects must be a positive int",
           eff("newton", remove=[1], steps=2.5)),
    raises("eff-steps-bool", TypeError, "Got True (bool) instead",
           eff("newton", remove=[1], steps=True)),
    raises("eff-tol-negative", ValueError, "The 'tol' parameter of effects must be a float in [0, inf)",
           eff("newton", remove=[1], steps=3, tol=-1e-3)),
    raises("eff-tol-nan", ValueError, "Got nan instead",
           eff("newton", remove=[1], steps=3, tol=float("nan"))),
    raises("eff-tol-string", TypeError, "The 'tol' parameter of effects must be a float",
           eff("newton", remove=[1], steps=3, tol="1e-6")),
    fine("eff-steps-squared-stays-exact",
         att_of(X, YS, family="squared",
                then=lambda a: a.effects("newton", remove=[1, 5, 9], steps=5)),
         check=squared_steps_exact),
    fine("eff-steps-empty-set", eff("newton", remove=[], steps=5), check=is_zero),
    warns("eff-steps-not-contracting", leaveout.NewtonStepsWarning,
          "1 did not contract (a step grew", poisson_zeros_removed(5)),
    warns("eff-steps-leaves-one-class", DegenerateRemovalWarning,
          "leaves data with no finite optimum",
          eff("newton", remove=np.flatnonzero(Y == 1), steps=5), nan=True, check=all_nan),
]

def _plugin_of(method, remove, target):
    def check(result):
        att = base_att()
        delta = att.effects(method, remove=remove)
        want = att.evaluate(target, att.params_ + delta) - att.evaluate(target)
        np.testing.assert_allclose(result, want, rtol=1e-10)
    return check


_TEST_LOSS = targets.loss(X[:5], Y[:5], reduce="sum")
HALF = list(range(20))                                    # 20 of the 40 rows: set leverage ≈ 0.9

@functools.cache
def labelled_att():
    """The 40 rows as a DataFrame whose index is a shuffled range 100..139 (not positions)."""
    df = pd.DataFrame(X, columns=["a", "b", "c"],
                      index=np.random.default_rng(0).permutation(40) + 100)
    return leaveout.Attributor(leaveout.fit(df, Y), df, Y)


def labelled(*args, **kw):
    return lambda: labelled_att().effects(*args, **kw)


def _same_as_positions(pos):
    def check(result):
        np.testing.assert_array_equal(result, labelled_att().effects("newton", remove=pos,
                                                                     by="position"))
    return check


# Issue 7: no silent wrong answers.
TRUST_CASES = [
    fine("eff-target-default-plugin-set",
         eff("newton", remove=[1, 2, 3], target=_TEST_LOSS),
         _plugin_of("newton", [1, 2, 3], _TEST_LOSS)),
    fine("eff-target-default-plugin-per-row",
         eff("rif", target=_TEST_LOSS), _plugin_of("rif", None, _TEST_LOSS)),
    warns("eff-rif-large-set-leverage", leaveout.SetLeverageWarning,
          "the additive 'rif' estimate ignores", eff("rif", remove=HALF)),
    warns("eff-if-large-set-leverage-list", leaveout.SetLeverageWarning,
          "1 of 2 sets (largest: set 1)", eff("if", remove=[[0, 1], HALF])),
    fine("eff-newton-large-set-leverage", eff("newton", remove=HALF)),
    raises("setlev-out-of-range", ValueError, "out of range for 40 training rows",
           lambda: base_att().set_leverage([40])),
    fine("rows-index-labels", lambda: labelled_att().effects(
        "newton", remove=labelled_att().row_labels_[[3, 7]].tolist(), by="label"),
        _same_as_positions([3, 7])),
    fine("rows-pandas-index", lambda: labelled_att().effects(
        "newton", remove=pd.Index(labelled_att().row_labels_[[3, 7]].tolist())),
        _same_as_positions([3, 7])),
    raises("rows-plain-ints-non-default-index", ValueError,
           "so they could be positions or labels", labelled("newton", remove=[103, 107])),
    fine("rows-by-position", labelled("newton", remove=[3, 7], by="position"),
         _same_as_positions([3, 7])),
    raises("rows-label-not-in-index", ValueError, "that are not in X's row index",
           labelled("newton", remove=pd.Index([5]))),
    raises("rows-labels-without-index", ValueError, "X was not a pandas DataFrame",
           eff("newton", remove=pd.Index([5]))),
    raises("rows-strings-without-index", ValueError, "gives row labels (strings)",
           eff("rif", remove=["row5"])),
    raises("rows-by-unknown", ValueError, "by must be None, 'position' or 'label'",
           eff("rif", remove=[1], by="index")),
    raises("att-nan-params-no-refit-ok", leaveout.ModelMismatchError,
           "pass refit_ok=True", lambda: leaveout.Attributor(nan_params_model(), X, Y)),
    raises("att-fitted-on-rescaled-X", leaveout.ModelMismatchError,
           "does not look fitted on these X, y, sample_weight",
           lambda: leaveout.Attributor(leaveout.fit(X * 10, Y), X, Y)),
    warns("att-fitted-on-rescaled-X-refit-ok", PolishWarning, "was it fitted on other data?",
          lambda: leaveout.Attributor(leaveout.fit(X * 10, Y), X, Y, refit_ok=True)),
    warns("sk-slightly-unconverged-logistic", PolishWarning, "It had probably stopped early",
          sk(lambda: lm.LogisticRegression(max_iter=3, tol=1e-4))),
    raises("att-refit-ok-not-bool", TypeError,
           "The 'refit_ok' parameter of Attributor must be a bool",
           lambda: leaveout.Attributor(leaveout.fit(X, Y), X, Y, refit_ok="yes")),
    raises("retrain-n-jobs-zero", ValueError, "n_jobs must be None, a positive int",
           eff("retrain", remove=[[1], [2]], n_jobs=0)),
    raises("retrain-progress-not-bool", TypeError, "progress must be None",
           lambda: base_att().retrain([1], progress="yes")),
    raises("eff-n-jobs-with-rif", ValueError,
           "progress and n_jobs apply to method='retrain' only", eff("rif", n_jobs=2)),
    fine("retrain-progress-off-n-jobs-1",
         eff("retrain", remove=[[1], [2]], progress=False, n_jobs=1),
         lambda r: np.testing.assert_array_equal(
             r, base_att().effects("retrain", remove=[[1], [2]]))),
    raises("rows-bool-series-misaligned", ValueError,
           "is a boolean Series whose index is not X's row index",
           labelled("rif", remove=pd.Series([True] * 5))),
]

CASES = (FIT_CASES + ATTRIBUTOR_CASES + SKLEARN_CASES + EFFECTS_CASES
         + VALIDATION_HARDENING_CASES + CONSISTENCY_CASES + PIPELINE_CASES
         + ANSWERS_CASES + NEWTON_STEPS_CASES + TRUST_CASES + SPARSE_CASES + DASK_CASES)
IDS = [c.id for c in CASES]


def _arrays(result):
    """The numbers a call returned: an array, a tuple of arrays, a GLM or an Attributor."""
    if isinstance(result, leaveout.GLM):
        return [result.params_]
    if isinstance(result, leaveout.Attributor):
        return [result.params_, result.leverage, result.effects("rif")]
    if type(result).__name__ == "RemovalAudit":
        return [result.rows, np.array([result.predicted, result.actual])]
    if isinstance(result, tuple):
        return [np.asarray(r, dtype=float) for r in result]
    return [np.asarray(result, dtype=float)]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_edge_case(case):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if case.expect is not None and not issubclass(case.expect, Warning):
            assert issubclass(case.expect, (ValueError, TypeError))
            with pytest.raises(case.expect) as excinfo:
                case.call()
            assert type(excinfo.value) is case.expect, repr(excinfo.value)
            assert case.excerpt in str(excinfo.value), str(excinfo.value)
            last = Path(str(excinfo.traceback[-1].path)).resolve()
            assert last.is_relative_to(PACKAGE), f"raised from {last}, not from leaveout"
            result = None
        else:
            result = case.call()
    runtime = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert not runtime, runtime
    ours = [w for w in caught if issubclass(w.category, leaveout.LeaveoutWarning)]
    if case.expect is not None and issubclass(case.expect, Warning):
        assert any(issubclass(w.category, case.expect) and case.excerpt in str(w.message)
                   for w in ours), [str(w.message) for w in ours]
    else:
        assert not ours, [str(w.message) for w in ours]
    if result is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", leaveout.LeaveoutWarning)
        arrays = _arrays(result)
    if not case.nan:
        for a in arrays:
            assert np.isfinite(a).all()
    if case.check is not None:
        case.check(result)


def test_catalogue_size_and_unique_ids():
    assert len(CASES) >= 45
    assert len(set(IDS)) == len(IDS)


# -- docs/edge-cases.md lists exactly these cases -------------------------------------------
_ROW = re.compile(r"^\|\s*`(?P<id>[^`]+)`\s*\|(?P<input>.*)\|(?P<does>.*)\|(?P<excerpt>.*)\|\s*$")


def _doc_rows():
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if m:
            assert m["id"] not in rows, f"{m['id']} is listed twice in {DOC.name}"
            rows[m["id"]] = m
    return rows


def test_docs_table_lists_the_same_cases():
    rows = _doc_rows()
    assert sorted(rows) == sorted(IDS), (
        f"only in docs: {sorted(set(rows) - set(IDS))}; only in tests: "
        f"{sorted(set(IDS) - set(rows))}")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_docs_row_agrees_with_the_test(case):
    row = _doc_rows()[case.id]
    excerpt = row["excerpt"].strip()
    if case.excerpt:
        assert excerpt == f"`{case.excerpt}`", f"docs excerpt {excerpt} != test excerpt"
    else:
        assert excerpt == "—"
    does = row["does"]
    if case.expect is None:
        assert "no warning" in does
    else:
        assert f"`{case.expect.__name__}`" in does
    assert ("NaN" in does) == case.nan
