"""Hardening found by fuzzing the public API: each test fails on the behaviour it replaced."""

import logging
import warnings

import numpy as np
import pandas as pd
import pytest

import leaveout
from leaveout import targets as T
from leaveout.exceptions import PolishWarning
from leaveout.families import get_family
from conftest import make_data


# -- logistic loss keeps full relative precision ---------------------------------------------------
def test_logistic_loss_and_derivatives_are_accurate_for_confident_rows():
    fam = get_family("logistic")
    eta = np.array([-700.0, -40.0, -20.0, 0.0, 20.0, 40.0, 700.0])
    for y in (0.0, 1.0):
        # Reference: log(1 + e^{-m}) at margin m = η(1−2y)... computed in long double.
        m = np.longdouble(eta) * (1 - 2 * np.longdouble(y))
        ref = np.where(m > 0, m + np.log1p(np.exp(-m)), np.log1p(np.exp(m)))
        got = fam.loss(eta, np.full_like(eta, y))
        np.testing.assert_allclose(got, ref.astype(float), rtol=1e-15, atol=0)
        d1 = (1 - 2 * y) / (1 + np.exp(-m))
        np.testing.assert_allclose(fam.d1(eta, np.full_like(eta, y)), d1.astype(float),
                                   rtol=1e-14, atol=0)
    e = np.exp(-np.abs(np.longdouble(eta)))
    np.testing.assert_allclose(fam.d2(eta, 0 * eta), (e / (1 + e) ** 2).astype(float),
                               rtol=1e-14, atol=0)


@pytest.mark.parametrize("w", [1e10, 1e12, 1e14])
def test_a_heavily_weighted_row_fits_to_the_optimum(w):
    # Before: the loss of a confident row rounded to 0, the line search stalled and a
    # SingularHessianError blamed l2=0 although l2=1.
    X, y = make_data("logistic", n=40, p=3, seed=0)
    s = np.r_[w, np.ones(39)]
    m = leaveout.fit(X, y, sample_weight=s)
    assert m.gradient_norm_ < 1e-6 * w
    # The optimum: the heavy row is (nearly) interpolated and the rest fitted with the penalty.
    ref = leaveout.fit(X, y, sample_weight=s * 2, l2=2.0)  # same optimum (scale invariance)
    np.testing.assert_allclose(m.params_, ref.params_, rtol=1e-6)


@pytest.mark.parametrize("l2", [1e-16, 1e-30])
def test_tiny_penalty_on_separable_data_converges_and_polish_agrees(l2):
    # Before: the stopping rule was relative to max(1, |L|) with |L| ~ 1e-11, so the fit
    # stopped early and Attributor then moved θ by 4 % with a false "other data?" warning.
    X, _ = make_data("logistic", n=40, p=3, seed=0)
    y = (X[:, 0] > 0).astype(float)
    m = leaveout.fit(X, y, l2=l2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PolishWarning)
        att = leaveout.Attributor(m, X, y)
    assert att.polish_shift_ < 1e-10


# -- warm starts that fail fall back to the cold start ---------------------------------------------
@pytest.mark.parametrize("family,scale", [("poisson", 100.0), ("logistic", 1000.0)])
def test_adopting_a_model_on_rescaled_features_refits_from_scratch(family, scale):
    X, y = make_data(family, n=80, p=3, seed=1)
    m = leaveout.fit(X, y, family=family)
    with pytest.raises(leaveout.ModelMismatchError, match="does not look fitted"):
        leaveout.Attributor(m, X * scale, y)
    with pytest.warns(PolishWarning, match="fitted on other data"):
        att = leaveout.Attributor(m, X * scale, y, refit_ok=True)
    direct = leaveout.fit(X * scale, y, family=family)
    np.testing.assert_allclose(att.params_, direct.params_, rtol=1e-8)


def test_bad_warm_start_falls_back_to_the_cold_start():
    X, y = make_data("poisson", n=80, p=3, seed=1)
    cold = leaveout.GLM(family="poisson").fit(X, y)
    warm = leaveout.GLM(family="poisson").fit(X, y, warm_start=np.full(4, 50.0))
    np.testing.assert_allclose(warm.params_, cold.params_, rtol=1e-10)


# -- the caller's arrays are not shared -------------------------------------------------------------
def test_changing_the_callers_arrays_after_construction_changes_nothing():
    X, y = make_data("logistic", n=60, p=4, seed=2)
    Xc, yc, Xq = X.copy(), y.copy(), X[:5].copy()
    att = leaveout.Attributor(leaveout.fit(Xc, yc), Xc, yc)
    tgt = T.prediction(Xq)
    Xc[:] = 0.0
    Xc[0, 0] = np.nan
    yc[:] = 1 - yc
    Xq[0, 0] = np.nan
    ref = leaveout.Attributor(leaveout.fit(X, y), X, y)
    np.testing.assert_array_equal(att.effects("rif"), ref.effects("rif"))
    np.testing.assert_array_equal(att.effects("retrain", remove=[[1, 2]]),
                                  ref.effects("retrain", remove=[[1, 2]]))
    np.testing.assert_array_equal(att.effects("if", target=tgt),
                                  ref.effects("if", target=T.prediction(X[:5])))


# -- feature names ------------------------------------------------------------------------------------
def _frame():
    X, y = make_data("logistic", n=50, p=3, seed=3)
    return pd.DataFrame(X, columns=["a", "b", "c"]), y


def test_reordered_or_renamed_columns_are_rejected_everywhere():
    df, y = _frame()
    m = leaveout.fit(df, y)
    swapped = df[["c", "b", "a"]]
    renamed = df.rename(columns={"a": "z"})
    with pytest.raises(ValueError, match="same names in another order"):
        m.predict(swapped)
    with pytest.raises(ValueError, match="not fitted on: \\['z'\\]"):
        m.predict(renamed)
    with pytest.raises(ValueError, match="same names in another order"):
        leaveout.Attributor(m, swapped, y)
    att = leaveout.Attributor(m, df, y)
    with pytest.raises(ValueError, match="The target's X has feature names"):
        att.effects("rif", target=T.prediction(swapped))
    # Right order, or a plain array: accepted and identical.
    np.testing.assert_array_equal(att.effects("rif", target=T.prediction(df[:3])),
                                  att.effects("rif", target=T.prediction(df.to_numpy()[:3])))


def test_sklearn_feature_names_are_checked_too():
    from sklearn.linear_model import LogisticRegression

    df, y = _frame()
    est = LogisticRegression().fit(df, y)
    with pytest.raises(ValueError, match="LogisticRegression was fitted with"):
        leaveout.Attributor(est, df[["b", "a", "c"]], y)


def test_refit_on_unnamed_columns_forgets_the_names():
    df, y = _frame()
    m = leaveout.GLM().fit(df, y)
    assert list(m.feature_names_in_) == ["a", "b", "c"]
    m.fit(df.to_numpy()[:, :2], y)
    assert not hasattr(m, "feature_names_in_")


def test_changing_parameters_after_fit_does_not_misdescribe_the_model():
    X, y = make_data("logistic", n=50, p=3, seed=4)
    m = leaveout.fit(X, y, l2=2.0)
    ref = leaveout.Attributor(m, X, y).effects("rif")
    m.fit_intercept, m.l2 = False, "x"
    np.testing.assert_array_equal(leaveout.Attributor(m, X, y).effects("rif"), ref)


# -- overflow is reported, not returned ----------------------------------------------------------------
def test_poisson_prediction_overflow_is_an_error_not_inf():
    X, y = make_data("poisson", n=60, p=3, seed=5)
    m = leaveout.fit(X, y, family="poisson")
    far = X[:3] * 1e4
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy RuntimeWarning either
        with pytest.raises(ValueError, match="overflows float64 at row"):
            m.predict(far)
        att = leaveout.Attributor(m, X, y)
        with pytest.raises(ValueError, match="overflows float64"):
            att.evaluate(T.prediction(far))
        with pytest.raises(ValueError, match="overflows float64"):
            att.effects("rif", target=T.prediction(far))


def test_nan_params_in_evaluate_and_nan_adopted_params():
    X, y = make_data("logistic", n=60, p=3, seed=6)
    m = leaveout.fit(X, y)
    att = leaveout.Attributor(m, X, y)
    with pytest.raises(ValueError, match="params contains NaN or inf"):
        att.evaluate(T.prediction(X[:2]), params=np.full(4, np.nan))
    m.params_ = np.full(4, np.nan)
    with pytest.raises(leaveout.ModelMismatchError, match="contain NaN or inf"):
        leaveout.Attributor(m, X, y)
    with pytest.warns(PolishWarning, match="contain NaN or inf, so it cannot be polished"):
        att2 = leaveout.Attributor(m, X, y, refit_ok=True)
    assert att2.polish_shift_ == np.inf
    np.testing.assert_allclose(att2.params_, att.params_, rtol=1e-10)


# -- warnings point at the user's line ------------------------------------------------------------------
def test_warnings_are_attributed_to_the_callers_line():
    X = np.random.default_rng(0).normal(size=(30, 3))
    y = np.r_[1.0, np.zeros(29)]  # row 0 is the only positive: removing it is degenerate
    att = leaveout.Attributor(leaveout.fit(X, y), X, y)
    for call in (lambda: att.effects("rif"), lambda: att.effects("if", remove=[[0]]),
                 lambda: att.effects("newton", remove=[[0]]),
                 lambda: att.effects("rif", target=T.prediction(X[:2]))):
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            call()
        assert rec and all(w.filename == __file__ for w in rec), [w.filename for w in rec]


def test_high_leverage_warning_through_a_cached_property_points_at_the_caller():
    X, y = np.ones((1, 1)), np.array([2.0])  # one row: leverage 1
    att = leaveout.Attributor(leaveout.fit(X, y, family="squared"), X, y)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        att.effects("rif")
    assert rec and all(w.filename == __file__ for w in rec), [w.filename for w in rec]


# -- damaged checkpoints are refitted, never returned ------------------------------------------------
@pytest.mark.parametrize("damage", ["garbage", "pickled", "wrong_shape", "nan", "directory"])
def test_a_damaged_checkpoint_entry_is_refitted(tmp_path, damage, caplog):
    X, y = make_data("logistic", n=50, p=3, seed=7)
    att = leaveout.Attributor(leaveout.fit(X, y), X, y)
    sets = [[1], [2, 3]]
    first = att.effects("retrain", remove=sets, checkpoint=tmp_path)
    entry = sorted(tmp_path.rglob("*.npy"))[0]
    entry.unlink()
    if damage == "garbage":
        entry.write_bytes(b"not a numpy file")
    elif damage == "pickled":
        np.save(entry, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif damage == "wrong_shape":
        np.save(entry, np.zeros(7))
    elif damage == "nan":
        np.save(entry, np.full(4, np.nan))
    else:
        entry.mkdir()
    if damage == "directory":
        with pytest.raises(ValueError, match="Cannot write the checkpoint"):
            att.effects("retrain", remove=sets, checkpoint=tmp_path)
        return
    with caplog.at_level(logging.WARNING, logger="leaveout"):
        again = att.effects("retrain", remove=sets, checkpoint=tmp_path)
    np.testing.assert_array_equal(again, first)
    assert "refitting that set" in caplog.text


@pytest.mark.parametrize("bad", [5, False, b"/tmp/x", ""])
def test_checkpoint_must_be_a_path(bad):
    X, y = make_data("logistic", n=30, p=2, seed=8)
    att = leaveout.Attributor(leaveout.fit(X, y), X, y)
    with pytest.raises(TypeError, match="checkpoint must be a directory path"):
        att.effects("retrain", remove=[[1]], checkpoint=bad)


@pytest.mark.parametrize("scale", [1e100, 1e140])
def test_huge_but_legal_scales_give_finite_norms_and_no_numpy_warning(scale):
    X, y = make_data("squared", n=40, p=3, seed=9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = leaveout.fit(X * scale, y * scale, family="squared")
        att = leaveout.Attributor(m, X * scale, y * scale)
        assert np.isfinite(m.gradient_norm_)
        assert np.all(np.isfinite(att.effects("rif")))
    # Scale equivariance of the squared loss with l2 scaled by scale²: β̂ unchanged... here l2=1
    # is negligible next to X'X ~ 40·scale², so β̂ ≈ the unscaled least-squares fit.
    ls = leaveout.fit(X, y, family="squared", l2=0.0)
    np.testing.assert_allclose(m.coef_, ls.coef_, rtol=1e-9)


def test_a_weight_ratio_beyond_float64_names_the_weights():
    X, y = make_data("logistic", n=40, p=3, seed=0)
    with pytest.raises(leaveout.SingularHessianError, match="sample weights or feature scales"):
        leaveout.fit(X, y, sample_weight=np.r_[1e30, np.ones(39)])


def test_pandas_objects_with_different_row_indexes_are_refused():
    df, y = _frame()
    ys = pd.Series(y, index=df.index)
    shuffled = ys.sample(frac=1.0, random_state=0)
    with pytest.raises(ValueError, match="different row indexes"):
        leaveout.fit(df, shuffled)
    with pytest.raises(ValueError, match="sample_weight and X are pandas objects"):
        leaveout.fit(df, ys, sample_weight=pd.Series(1.0, index=shuffled.index))
    m = leaveout.fit(df, ys)
    with pytest.raises(ValueError, match="y = y.loc\\[X.index\\]"):
        leaveout.Attributor(m, df, shuffled)
    with pytest.raises(ValueError, match="the target's y and X"):
        T.loss(df, shuffled)
    # Aligned, or NumPy on either side: by position, as before.
    np.testing.assert_array_equal(leaveout.fit(df, shuffled.loc[df.index]).params_, m.params_)
    np.testing.assert_array_equal(leaveout.fit(df.to_numpy(), ys).params_, m.params_)


def test_copy_false_shares_the_callers_array_and_copy_true_does_not():
    X, y = make_data("logistic", n=60, p=4, seed=2)
    m = leaveout.fit(X, y)
    shared = leaveout.Attributor(m, X, y, copy=False)
    private = leaveout.Attributor(m, X, y)
    assert np.shares_memory(shared._state.design.X, X) and X.flags.writeable
    assert not np.shares_memory(private._state.design.X, X)
    assert not private._state.design.X.flags.writeable
    # A DataFrame's block is copied too; arrays that validation created are not copied again.
    df = pd.DataFrame(X)
    att = leaveout.Attributor(m, df, y)
    assert not np.shares_memory(att._state.design.X, df.to_numpy())
    X32 = X.astype(np.float32)
    att32 = leaveout.Attributor(leaveout.fit(X32, y), X32, y)
    assert att32._state.design.X.base is None
    with pytest.raises(TypeError, match="'copy' parameter of Attributor must be a bool"):
        leaveout.Attributor(m, X, y, copy="yes")


# -- the stopping rule: rounding of the gradient, not only the size of L ----------------------------
@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("n,p", [(10, 2), (50, 3), (200, 5)])
def test_noise_free_least_squares_fits_exactly(seed, n, p):
    # Before: L → 0 at an interpolating optimum, the decrement never fell below 1e-16·L, and a
    # SingularHessianError blamed collinear columns (scaled condition number ≈ 1).
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = X @ rng.normal(size=p)
    m = leaveout.fit(X, y, family="squared", l2=0.0)
    ref = np.linalg.lstsq(np.column_stack([X, np.ones(n)]), y, rcond=None)[0]
    np.testing.assert_allclose(m.params_, ref, rtol=1e-9, atol=1e-12)
    from sklearn.linear_model import LinearRegression

    att = leaveout.Attributor(LinearRegression().fit(X, y), X, y)
    np.testing.assert_allclose(att.params_, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("offset", [1e9, 1e12, 1e14])
def test_labels_far_larger_than_the_residuals(offset):
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3))
    y = offset + X @ [1.0, -2.0, 0.5] + rng.normal(size=50)
    m = leaveout.fit(X, y, family="squared", l2=1.0)
    sk = Ridge(alpha=1.0).fit(X, y)  # centres internally: exact on this problem
    # Each η_i = x_i·β + b rounds by ε·offset, an error no fit in this parametrisation avoids:
    # the coefficients are right to that level (Ridge centres y first, so it sees less of it).
    tol = 2 * np.finfo(float).eps * offset + 1e-9
    np.testing.assert_allclose(m.coef_, sk.coef_, rtol=tol)
    assert abs(m.intercept_ - sk.intercept_) <= tol * offset


# -- a target's labels mean what the model's labels mean ---------------------------------------------
@pytest.mark.parametrize("labels", [(1, 2), (-1, 1), ("no", "yes"), (False, True)])
def test_target_loss_uses_the_classifiers_own_labels(labels):
    from sklearn.linear_model import LogisticRegression

    X, y01 = make_data("logistic", n=80, p=3, seed=10)
    y = np.where(y01 == 1, labels[1], labels[0])
    est = LogisticRegression(tol=1e-12).fit(X, y)
    att = leaveout.Attributor(est, X, y)
    ref = leaveout.Attributor(leaveout.fit(X, y01, l2=1.0), X, y01)
    Xq, yq = X[:6], y[:6]
    got = att.evaluate(T.loss(Xq, yq))
    np.testing.assert_allclose(got, ref.evaluate(T.loss(Xq, y01[:6])), rtol=1e-9)
    # = scikit-learn's own log-loss per row
    p = est.predict_proba(Xq)[np.arange(6), np.searchsorted(est.classes_, yq)]
    np.testing.assert_allclose(got, -np.log(p), rtol=1e-6)
    np.testing.assert_allclose(att.effects("rif", target=T.loss(Xq, yq)),
                               ref.effects("rif", target=T.loss(Xq, y01[:6])), rtol=1e-8)


def test_nan_effects_warn_on_every_call_not_only_the_first():
    X, y = make_data("squared", n=8, p=2, seed=11)
    X[1:, 1] = 0.0
    X[0, 1] = 1.0  # row 0 alone determines β₁: leverage 1 at l2 = 0
    att = leaveout.Attributor(leaveout.fit(X, y, family="squared", l2=0.0), X, y)
    for call in (lambda: att.effects("rif"), lambda: att.effects("rif"),
                 lambda: att.effects("newton"),
                 lambda: att.effects("rif", target=T.prediction(X[:2])),
                 lambda: att.effects("rif", remove=[[0, 3]])):
        with pytest.warns(leaveout.HighLeverageWarning, match="Removing training row\\(s\\) 0 "):
            out = call()
        assert np.isnan(out).any()
    # A set without the singular row is finite and draws no HighLeverageWarning (2 of 8 rows
    # with 2 parameters at l2 = 0: a large set leverage, so a SetLeverageWarning is right).
    with warnings.catch_warnings():
        warnings.simplefilter("error", leaveout.HighLeverageWarning)
        warnings.simplefilter("ignore", leaveout.SetLeverageWarning)
        assert np.all(np.isfinite(att.effects("rif", remove=[[2, 3]])))


@pytest.mark.parametrize("family", ["squared", "logistic", "poisson"])
def test_removing_every_row_of_positive_weight_is_nan_with_a_warning(family):
    # Before: ZeroDivisionError / IndexError from inside NumPy, or finite newton numbers.
    X, y = make_data(family, n=6, p=2, seed=12)
    if family != "squared":
        y[:2] = [0.0, 1.0]
    s = np.array([1.0, 1, 0, 0, 0, 0])
    att = leaveout.Attributor(leaveout.fit(X, y, family=family, sample_weight=s), X, y, s)
    for method in ("if", "rif", "newton", "retrain"):
        with pytest.warns(leaveout.LeaveoutWarning):
            out = att.effects(method, remove=[0, 1])
        assert np.isnan(out).all(), method


def test_per_row_retrain_on_a_single_row():
    X, y = np.array([[0.5]]), np.array([2.0])
    att = leaveout.Attributor(leaveout.fit(X, y, family="squared"), X, y)
    for method in ("if", "rif", "newton", "retrain"):
        with pytest.warns(leaveout.LeaveoutWarning):
            out = att.effects(method)
        assert out.shape == (1, 2) and np.isnan(out).all(), method
