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


def test_sparse_and_dataframe_with_strings():
    sp = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="toarray"):
        leaveout.fit(sp.csr_matrix(X), Y)
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
