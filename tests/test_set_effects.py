"""Large removal sets: set leverage, its warning for additive estimates, and target defaults.

References: explicit eigenvalues of the k × k matrix W_T^½ X̃_T H⁻¹ X̃_Tᵀ W_T^½ with
``np.linalg`` (no leaveout code), and exact retraining.  The real-data checks use statsmodels'
``fair`` data (shipped with statsmodels, offline): whole category levels, up to 44 % of the rows.
"""

import warnings

import numpy as np
import pytest

import leaveout
from leaveout import targets
from conftest import make_data


def _reference_set_leverage(att, X, T):
    A = np.column_stack([X, np.ones(len(X))])
    eta = A @ att.params_
    w = {"logistic": lambda e: np.exp(-np.logaddexp(0, e) - np.logaddexp(0, -e)),
         "squared": np.ones_like, "poisson": np.exp}[att.family.name](eta)
    H = A.T @ (A * w[:, None]) + att.l2 * np.diag([1.0] * X.shape[1] + [0.0])
    S = A[T] * np.sqrt(w[T])[:, None]
    return np.linalg.eigvalsh(S @ np.linalg.solve(H, S.T)).max()


def test_set_leverage_matches_explicit_eigenvalues(family):
    X, y = make_data(family, n=60, p=5, seed=3)
    att = leaveout.Attributor(leaveout.fit(X, y, family=family, l2=1.0), X, y)
    sets = [[4], [1, 2, 3], list(range(0, 60, 3)), list(range(40))]   # k < p and k > p
    got = att.set_leverage(sets)
    assert isinstance(got, np.ndarray) and got.shape == (4,)
    ref = [_reference_set_leverage(att, X, np.array(T)) for T in sets]
    np.testing.assert_allclose(got, ref, rtol=1e-10)
    one = att.set_leverage([4])
    assert isinstance(one, float)
    np.testing.assert_allclose(one, att.leverage[4], rtol=1e-12)   # h_i for one row
    assert att.set_leverage([]) == 0.0
    assert np.all((got > 0) & (got < 1))
    mask = np.zeros(60, dtype=bool)
    mask[[1, 2, 3]] = True
    assert att.set_leverage(mask) == pytest.approx(got[1], rel=1e-12)


def _fair():
    sm = pytest.importorskip("statsmodels.api")
    d = sm.datasets.fair.load_pandas().data
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(d))
    cut = int(0.75 * len(d))
    tr, te = d.iloc[perm[:cut]], d.iloc[perm[cut:]]
    cols = [c for c in d.columns if c != "affairs"]
    mu, sd = tr[cols].mean(), tr[cols].std()
    X, Xq = ((tr[cols] - mu) / sd).to_numpy(), ((te[cols] - mu) / sd).to_numpy()
    y, yq = (tr["affairs"] > 0).to_numpy(float), (te["affairs"] > 0).to_numpy(float)
    groups = [np.flatnonzero(tr[c].to_numpy() == v)
              for c in ("occupation", "religious", "rate_marriage") for v in np.unique(tr[c])]
    return X, y, Xq, yq, groups


@pytest.fixture(scope="module")
def fair():
    X, y, Xq, yq, groups = _fair()
    att = leaveout.Attributor(leaveout.fit(X, y, l2=1.0), X, y)
    return att, X, y, Xq, yq, groups


def test_whole_category_newton_default_target_is_close_to_retraining(fair):
    # 15 groups (every level of occupation, religious, rate_marriage; 1.6-44 % of the rows).
    # Exact retraining is the reference; the default target effect is the plug-in.
    att, X, y, Xq, yq, groups = fair
    assert max(len(T) for T in groups) / len(y) > 0.4
    t = targets.loss(Xq, yq, reduce="sum")
    exact = att.effects("retrain", remove=groups, target=t)
    newton = att.effects("newton", remove=groups, target=t)
    rel = np.abs(newton - exact) / np.abs(exact)
    assert np.median(rel) < 0.05
    assert np.all(np.sign(newton) == np.sign(exact))
    # The first-order change (by name) is what the default replaced: far worse on these sets.
    first = att.effects("newton", remove=groups, target=t, linearize=True)
    assert np.median(np.abs(first - exact) / np.abs(exact)) > 4 * np.median(rel)


def test_whole_category_warns_for_if_and_rif_not_newton(fair):
    att, X, y, Xq, yq, groups = fair
    big = max(groups, key=len)
    assert att.set_leverage(big) > 0.3
    for m in ("if", "rif"):
        with pytest.warns(leaveout.SetLeverageWarning, match="method='newton'"):
            att.effects(m, remove=big)
        with pytest.warns(leaveout.SetLeverageWarning, match="of 15 sets"):
            att.effects(m, remove=groups)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        att.effects("newton", remove=groups)
        att.effects("rif", remove=[int(i) for i in big[:3]])   # small set: silent
        att.effects("rif", remove=[int(big[0])])                 # one row never warns


def test_set_leverage_warning_is_calibrated_on_the_threshold():
    # Sets just below / above SET_LEVERAGE_WARN: silence / warning (threshold from
    # benchmarks/calibrate_defaults.py).
    from leaveout.estimators import SET_LEVERAGE_WARN

    X, y = make_data("logistic", n=200, p=4, seed=5)
    att = leaveout.Attributor(leaveout.fit(X, y, l2=1.0), X, y)
    order = np.argsort(-att.leverage)
    sizes = [k for k in range(2, 200) if att.set_leverage(order[:k]) > SET_LEVERAGE_WARN]
    k = sizes[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        att.effects("rif", remove=order[:k - 1])
    with pytest.warns(leaveout.SetLeverageWarning):
        att.effects("rif", remove=order[:k])


def test_whole_category_with_its_dummy_in_the_design():
    # occupation one-hot encoded: removing a level leaves its dummy column zero on every
    # retained row (set leverage ≈ 1).  Every level warns for rif; newton's default target
    # effect stays within 5 % of retraining in median, every sign right.  Rows by label.
    sm = pytest.importorskip("statsmodels.api")
    pd = pytest.importorskip("pandas")
    d = sm.datasets.fair.load_pandas().data
    X = pd.get_dummies(d.drop(columns="affairs"), columns=["occupation"], dtype=float)
    X = (X - X.mean()) / X.std()
    y = (d["affairs"] > 0).astype(float)
    perm = np.random.default_rng(1).permutation(len(d))
    tr, te = perm[:4500], perm[4500:]
    Xtr, ytr = X.iloc[tr], y.iloc[tr]
    att = leaveout.Attributor(leaveout.fit(Xtr, ytr, l2=1.0), Xtr, ytr)
    t = targets.loss(X.iloc[te], y.iloc[te], reduce="sum")
    groups = [Xtr.index[d["occupation"].iloc[tr].to_numpy() == v] for v in range(1, 7)]
    assert max(len(g) for g in groups) / len(tr) > 0.4
    assert np.all(att.set_leverage(groups) > 0.9)
    for g in groups:
        with pytest.warns(leaveout.SetLeverageWarning):
            att.effects("rif", remove=g)
    exact = att.effects("retrain", remove=groups, target=t)
    newton = att.effects("newton", remove=groups, target=t)
    assert np.median(np.abs(newton - exact) / np.abs(exact)) < 0.05
    assert np.all(np.sign(newton) == np.sign(exact))
