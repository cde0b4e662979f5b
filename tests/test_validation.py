"""User mistakes are answered by leaveout with a clear ValueError / TypeError."""

import numpy as np
import pytest

import leaveout
from leaveout import targets
from conftest import make_data

X, Y = make_data("logistic", n=40, p=3, seed=0)


@pytest.fixture(scope="module")
def att():
    return leaveout.Attributor(leaveout.fit(X, Y), X, Y)


FIT_CASES = [
    ("nan in X", dict(X=np.where(np.eye(40, 3) == 1, np.nan, X)), ValueError, "non-finite"),
    ("inf in y", dict(y=np.append(Y[:-1], np.inf)), ValueError, "non-finite"),
    ("labels outside {0,1}", dict(y=Y * 2), ValueError, "outside the domain"),
    ("string labels", dict(y=np.where(Y == 1, "a", "b")), TypeError, "Map the labels to 0/1"),
    ("1-D X", dict(X=X[:, 0]), ValueError, "reshape"),
    ("shape mismatch", dict(y=Y[:-1]), ValueError, "must match"),
    ("negative l2", dict(l2=-1.0), ValueError, r"'l2' parameter of fit must be a float in \[0, inf\)"),
    ("l2 as string", dict(l2="1"), TypeError, "'l2' parameter"),
    ("unknown family", dict(family="gaussian"), ValueError, "Valid families are"),
    ("negative weights", dict(sample_weight=-np.ones(40)), ValueError, "non-negative"),
    ("all-zero weights", dict(sample_weight=np.zeros(40)), ValueError, "zero for every row"),
    ("weights wrong length", dict(sample_weight=np.ones(3)), ValueError, r"shape \(40,\)"),
    ("string X", dict(X=np.array([["a"] * 3] * 40)), TypeError, "must hold numbers"),
    ("all-equal labels", dict(y=np.ones(40)), ValueError, "Both classes"),
    ("p>n with l2=0", dict(X=np.random.default_rng(0).normal(size=(40, 50)), l2=0.0),
     ValueError, "not unique"),
    ("fit_intercept not bool", dict(fit_intercept="yes"), TypeError, "must be a bool"),
]


@pytest.mark.parametrize("case", FIT_CASES, ids=[c[0] for c in FIT_CASES])
def test_fit_rejects(case):
    _, kw, exc, msg = case
    args = dict(X=X, y=Y)
    args.update(kw)
    with pytest.raises(exc, match=msg):
        leaveout.fit(args.pop("X"), args.pop("y"), **args)


def test_sparse_accepted_and_dataframe_with_strings_refused():
    sp = pytest.importorskip("scipy.sparse")
    np.testing.assert_allclose(leaveout.fit(sp.csr_matrix(X), Y).params_,
                               leaveout.fit(X, Y).params_, rtol=1e-10)
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": X[:, 0], "city": ["x"] * 40})
    with pytest.raises(TypeError, match=r"non-numeric column\(s\) \['city'\]"):
        leaveout.fit(df, Y)


REMOVE_CASES = [
    ("repeat index", [1, 1], ValueError, "repeats row index 1"),
    ("out of range", [40], ValueError, "out of range"),
    ("negative", [-1], ValueError, "negative index -1"),
    ("every row", list(range(40)), ValueError, "removes all 40"),
    ("float indices", [1.5], TypeError, "integer row indices"),
    ("a set", {1, 2}, TypeError, "ordered sequence"),
    ("bare int", 3, TypeError, r"remove=\[3\]"),
    ("mixed nesting", [1, [2]], TypeError, "mixes integers and sequences"),
    ("mask of wrong length", np.ones(5, dtype=bool), ValueError, "boolean mask of length 5"),
    ("bad set in a list", [[1], [2, 2]], ValueError, r"remove\[1\] repeats"),
]


@pytest.mark.parametrize("case", REMOVE_CASES, ids=[c[0] for c in REMOVE_CASES])
def test_effects_rejects_bad_removal_sets(att, case):
    _, remove, exc, msg = case
    with pytest.raises(exc, match=msg):
        att.effects("rif", remove=remove)


def test_unknown_method(att):
    with pytest.raises(ValueError, match="Valid methods are: if, rif, newton, retrain"):
        att.effects("influence")


def test_bad_targets(att):
    with pytest.raises(ValueError, match="query rows have 2 features"):
        att.effects("rif", target=targets.prediction(X[:, :2]))
    with pytest.raises(TypeError, match="leaveout.targets"):
        att.effects("rif", target=X[:3])
    with pytest.raises(ValueError, match="outside the domain"):
        att.effects("rif", target=targets.loss(X[:2], [3.0, 0.0]))


def test_attributor_rejects_mismatched_width_and_unsupported_models():
    m = leaveout.fit(X, Y)
    with pytest.raises(ValueError, match="X has 2 features, but the leaveout.GLM was fitted with 3"):
        leaveout.Attributor(m, X[:, :2], Y)
    with pytest.raises(TypeError, match="Supported models"):
        leaveout.Attributor(object(), X, Y)
    with pytest.raises(ValueError, match="not fitted"):
        leaveout.Attributor(leaveout.GLM(), X, Y)


def test_unsupported_sklearn_models():
    lm = pytest.importorskip("sklearn.linear_model")
    l1 = lm.LogisticRegression(l1_ratio=1.0, solver="liblinear").fit(X, Y)
    with pytest.raises(TypeError, match="L1 component"):
        leaveout.Attributor(l1, X, Y)
    with pytest.raises(TypeError, match="Supported models"):
        leaveout.Attributor(lm.Lasso().fit(X, Y), X, Y)
    y3 = np.arange(40) % 3
    with pytest.raises(ValueError, match="3 classes; only binary"):
        leaveout.Attributor(lm.LogisticRegression().fit(X, y3), X, y3)
    with pytest.raises(ValueError, match="not fitted"):
        leaveout.Attributor(lm.Ridge(), X, Y)


# -- validation hardening (fuzz) ------------------------------------------------------------
HARDENED_REMOVE_CASES = [
    ("below -n", [-41], ValueError, r"row index -41, out of range"),
    ("uint64 beyond int64", np.array([2**63], dtype=np.uint64), ValueError,
     "row index 9223372036854775808, out of range"),
    ("python int beyond uint64", [-2**70], ValueError, "row index -1180591620717411303424"),
    ("huge python int", [10**5000], ValueError, r"row index ≈1e\+5000, out of range"),
    ("only None", [None], ValueError, r"missing value \(None\) at position 0"),
    ("None in a nested set", [[1], [2, None]], ValueError,
     r"remove\[1\] contains a missing value \(None\) at position 1"),
    ("None among sets", [[1], None], ValueError, r"missing value \(None\) at position 1"),
    ("object array with None", np.array([1, None], dtype=object), ValueError, "missing value"),
    ("bool and float", [True, 2.0], TypeError, "mixes booleans and integers"),
    ("bools in a nested set", [[0], [np.True_, 3]], TypeError,
     r"remove\[1\] mixes booleans and integers"),
    ("object Series mixing bools", "object-series", TypeError, "mixes booleans and integers"),
    ("ragged nested set", [[1, [2, 3]]], TypeError, "must be a flat sequence of row indices"),
    ("masked remove", np.ma.masked_array([1, 2], mask=[0, 1]), ValueError,
     "remove is a NumPy masked array with 1 masked entry"),
]


@pytest.mark.parametrize("case", HARDENED_REMOVE_CASES, ids=[c[0] for c in HARDENED_REMOVE_CASES])
def test_effects_rejects_hardened_removal_sets(att, case):
    _, remove, exc, msg = case
    if isinstance(remove, str):
        pd = pytest.importorskip("pandas")
        remove = pd.Series([True, 2], dtype=object)
    with pytest.raises(exc, match=msg):
        att.effects("rif", remove=remove)


def test_removal_sets_that_stay_accepted(att):
    ref = att.effects("rif", remove=[1, 2])
    mask = np.zeros(40, dtype=bool)
    mask[[1, 2]] = True
    for same in (np.array([1, 2], dtype=np.uint64), np.array([1, 2], dtype=object), mask,
                 mask.tolist(), np.ma.masked_array([1, 2]), (1, 2)):
        np.testing.assert_array_equal(att.effects("rif", remove=same), ref)


def test_sample_weight_bounds_are_inclusive_and_zero_stays_allowed():
    from leaveout._validation import MAX_WEIGHT, MIN_POSITIVE_WEIGHT, check_sample_weight
    w = np.r_[MAX_WEIGHT, MIN_POSITIVE_WEIGHT, 0.0, np.ones(37)]
    np.testing.assert_array_equal(check_sample_weight(w, 40), w)
    with pytest.raises(ValueError, match=r"larger than 1e\+150"):
        check_sample_weight(np.r_[np.nextafter(MAX_WEIGHT, np.inf), np.ones(39)], 40)
    with pytest.raises(ValueError, match="smaller than 1e-150"):
        check_sample_weight(np.r_[np.nextafter(MIN_POSITIVE_WEIGHT, 0), np.ones(39)], 40)
    with pytest.raises(ValueError, match=r"sample_weight is ≈1e\+400, too large for a float64"):
        check_sample_weight(10**400, 40)


@pytest.mark.skipif(np.finfo(np.longdouble).max <= np.finfo(np.float64).max,
                    reason="long double is float64 here")
def test_longdouble_values_beyond_float64_are_reported_as_given():
    import warnings
    from leaveout._validation import check_param_float, check_sample_weight
    huge, tiny = np.longdouble("1e400"), np.longdouble("1e-4000")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "overflow encountered in cast"
        with pytest.raises(ValueError, match=r"sample_weight\[3\] = 1e\+400"):
            check_sample_weight(np.r_[np.ones(3), [huge]].astype(np.longdouble), 4)
        with pytest.raises(ValueError, match=r"sample_weight\[0\] = 1e-4000"):
            check_sample_weight(np.r_[[tiny], np.ones(3)].astype(np.longdouble), 4)
        with pytest.raises(ValueError, match=r"y contains 1 value\(s\) larger than 1e\+150"):
            leaveout.fit(X, np.r_[[huge], Y[1:]].astype(np.longdouble), family="squared")
        with pytest.raises(ValueError, match=r"Got 1e\+400 instead, which is too large"):
            check_param_float(huge, "l2", "fit")


def test_object_arrays_name_missing_values_and_huge_integers():
    with pytest.raises(ValueError, match=r"X contains a missing value \(None\) at \(row, column\) "
                                         r"\(0, 0\)"):
        leaveout.fit([[None, 1.0]] + [[0.0, 1.0]] * 39, Y)
    with pytest.raises(ValueError, match=r"y contains ≈1e\+400, too large for a float64"):
        leaveout.fit(X, [10**400] + [0] * 39, family="squared")


def test_X_bound_is_exact_whichever_pass_decides():
    # The one-pass check (Σ x² < MAX_ABS²/2) accepts small data; anything it cannot vouch for
    # (huge but legal entries, whose squares overflow the sum) goes to the exact min/max test.
    from leaveout._validation import MAX_ABS, check_X
    small = np.arange(12.0).reshape(6, 2)
    np.testing.assert_array_equal(check_X(small), small)
    at_limit = np.full((6, 2), MAX_ABS)
    at_limit[0, 0] = -MAX_ABS
    np.testing.assert_array_equal(check_X(at_limit), at_limit)   # Σ x² overflows: still legal
    for bad, what in ((np.nextafter(MAX_ABS, np.inf), r"1 value\(s\) larger than 1e\+150"),
                      (-np.nextafter(MAX_ABS, np.inf), r"1 value\(s\) larger than 1e\+150"),
                      (np.nan, "non-finite"), (-np.inf, "non-finite")):
        X = small.copy()
        X[3, 1] = bad
        with pytest.raises(ValueError, match=what):
            check_X(X)
