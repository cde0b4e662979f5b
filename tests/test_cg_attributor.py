"""Attributor(solver="cg"): effects by conjugate gradients and leverages by random sketches.

References, all independent of leaveout's solvers: the dense p × p Hessian H built here from
X̃, w and λ, its exact solves (scipy Cholesky) and exact leverages h_i = w_i x̃_iᵀH⁻¹x̃_i.
- targets and sets (if, newton; rif with the Attributor's own leverages plugged into the exact
  formula) match to within cond(H) × the residual that ``solver_info_`` reports;
- the reported residual of a solve is the one recomputed here from the returned effect;
- randomized leverages lie within 3 reported standard errors of the exact ones for ≥ 90 % of the
  rows, their error and standard error shrink with more probes, and the same seed gives the
  same bits;
- a looser rtol takes fewer iterations and gives larger errors;
- "auto" takes cg when neither exact form fits the memory budget; bad knobs raise.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import linalg

import leaveout
from leaveout import solvers, targets
from leaveout.exceptions import ProblemTooLargeError

pytestmark = pytest.mark.filterwarnings("ignore::leaveout.SetLeverageWarning")
LAM = 1.0


@functools.lru_cache(maxsize=None)
def problem(family="logistic", fit_intercept=True, n=300, p=500, seed=0):
    """Sparse n × p (3 % dense) with sample weights; the fit; the dense exact references."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=0.03, random_state=seed, format="csr")
    X.data = rng.standard_normal(X.data.size)
    eta = X @ (0.5 * rng.standard_normal(p))
    if family == "logistic":
        y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    elif family == "poisson":
        y = rng.poisson(np.exp(0.25 * eta)).astype(float)
    else:
        y = eta + rng.normal(size=n)
    sw = rng.uniform(0.5, 2.0, n)
    m = leaveout.fit(X, y, family=family, l2=LAM, fit_intercept=fit_intercept, sample_weight=sw)
    Xt = X.toarray()
    if fit_intercept:
        Xt = np.column_stack([Xt, np.ones(n)])
    eta = Xt @ m.params_
    if family == "logistic":
        mu = 1 / (1 + np.exp(-eta))
        r, w = sw * (mu - y), sw * mu * (1 - mu)
    elif family == "poisson":
        r, w = sw * (np.exp(eta) - y), sw * np.exp(eta)
    else:
        r, w = sw * (eta - y), sw.copy()
    pen = np.full(Xt.shape[1], LAM)
    if fit_intercept:
        pen[-1] = 0.0
    H = (Xt * w[:, None]).T @ Xt + np.diag(pen)
    c = linalg.cho_factor(H)
    Binv = linalg.cho_solve(c, Xt.T)                   # H⁻¹ X̃ᵀ
    h = w * np.einsum("ij,ji->i", Xt, Binv)
    return dict(X=X, y=y, sw=sw, m=m, Xt=Xt, r=r, w=w, H=H, c=c, h=h,
                cond=float(np.linalg.cond(H)))


def cg_att(P, **kw):
    return leaveout.Attributor(P["m"], P["X"], P["y"], P["sw"], solver="cg", **kw)


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


SETS = [np.arange(8), np.arange(40, 60), np.array([7])]


@pytest.mark.parametrize("family", ["logistic", "poisson", "squared"])
def test_targets_and_sets_match_exact_to_the_reported_accuracy(family):
    P = problem(family)
    att = cg_att(P)
    assert att.solver_ == "cg" and np.isnan(att.condition_number_)
    Xq = P["X"][:4]
    Xqt = P["Xt"][:4]
    # The exact target gradient of a linear predictor target is x̃_q: the per-row IF effect
    # on it is r_i x̃_iᵀ H⁻¹ x̃_q.
    exact_if_target = P["r"][:, None] * (P["Xt"] @ linalg.cho_solve(P["c"], Xqt.T))
    got_if_target = att.effects("if", target=targets.linear_predictor(Xq))
    exact_sets_if = np.array([linalg.cho_solve(P["c"], P["Xt"][T].T @ P["r"][T]) for T in SETS])
    got_sets_if = att.effects("if", remove=SETS)
    exact_newton = []
    for T in SETS:
        S = P["Xt"][T] * np.sqrt(P["w"][T])[:, None]
        exact_newton.append(linalg.solve(P["H"] - S.T @ S, P["Xt"][T].T @ P["r"][T],
                                         assume_a="pos"))
    got_newton = att.effects("newton", remove=SETS)
    # rif: the exact formula with the Attributor's own (randomized) leverages.
    hh = att.leverage
    exact_rif = np.array([linalg.cho_solve(P["c"], P["Xt"][T].T @ (P["r"][T] / (1 - hh[T])))
                          for T in SETS])
    got_rif = att.effects("rif", remove=SETS)
    exact_rif_target = (P["r"] / (1 - hh))[:, None] * (P["Xt"] @ linalg.cho_solve(P["c"], Xqt.T))
    got_rif_target = att.effects("rif", target=targets.linear_predictor(Xq))
    info = att.solver_info_
    assert info["solver"] == "cg" and info["exact"] is False and info["rtol"] == 1e-10
    assert 0 < info["max_residual"] <= 1e-10 * 1.0001
    bound = P["cond"] * info["max_residual"]
    for got, exact in ((got_if_target, exact_if_target), (got_sets_if, exact_sets_if),
                       (got_newton, np.array(exact_newton)), (got_rif, exact_rif),
                       (got_rif_target, exact_rif_target)):
        err = rel(got, exact)
        # Newton's Woodbury step combines k + 1 solves: allow a small factor on the bound.
        assert err <= 10 * bound + 1e-13, (err, bound)
        assert err < 1e-6


def test_reported_residual_is_the_true_one():
    P = problem()
    att = cg_att(P)
    T = np.arange(20, 60)
    before = att.solver_info_["solves"]
    delta = att.effects("if", remove=T)
    info = att.solver_info_
    assert info["solves"] >= before + 1   # + the set-leverage check's Lanczos solves
    b = P["Xt"][T].T @ P["r"][T]
    true_res = np.linalg.norm(P["H"] @ delta - b) / np.linalg.norm(b)
    last = att._state.factor.info[-1]
    assert last["residual"] == pytest.approx(true_res, rel=1e-5, abs=1e-16)
    assert info["max_residual"] >= true_res * (1 - 1e-5)
    assert info["iterations"] >= last["iterations"] > 0


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_randomized_leverages_within_reported_errors(fit_intercept):
    P = problem("logistic", fit_intercept)
    h = P["h"]
    errs, ses = [], []
    for probes in (32, 128):
        att = cg_att(P, probes=probes)
        est, se = att.leverage, att.leverage_se
        assert np.all(se > 0) and np.all(np.isfinite(est))
        z = np.abs(est - h) / se
        assert np.mean(z <= 3) >= 0.90, np.mean(z <= 3)
        assert np.mean(z <= 1) >= 0.45                # not a vacuously wide error bar
        errs.append(np.mean(np.abs(est - h)))
        ses.append(np.median(se))
        info = att.solver_info_
        assert info["leverage_probes"] == probes
        assert info["leverage_solves"] == probes
        assert info["leverage_max_residual"] <= 1e-6 * 1.0001
        assert info["leverage_se_median"] == pytest.approx(np.median(se))
        # rif's factor 1/(1 − h): its error is as reported too.
        rel_scale = np.abs((1 - h) / (1 - est) - 1)
        assert np.mean(rel_scale <= 3 * se / (1 - est) + 1e-12) >= 0.90
    # 4× the probes: standard error and actual error about halve.
    assert ses[1] < 0.6 * ses[0] and errs[1] < 0.75 * errs[0]
    # Fixed seed: the same bits; another seed: other draws.
    a, b = cg_att(P, probes=32).leverage, cg_att(P, probes=32, random_state=1).leverage
    np.testing.assert_array_equal(a, cg_att(P, probes=32).leverage)
    assert not np.array_equal(a, b)


def test_same_bits_on_one_and_two_workers(monkeypatch):
    from leaveout import _threads

    P = problem("squared")
    out = []
    for workers in (1, 2):
        monkeypatch.setattr(_threads, "_workers", workers)
        att = cg_att(P, probes=8)
        out.append((att.leverage, att.effects("rif", remove=SETS),
                    att.effects("newton", remove=SETS[:2])))
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


def test_looser_rtol_fewer_iterations_larger_error():
    P = problem("poisson")
    Xq = P["X"][:3]
    exact = P["r"][:, None] * (P["Xt"] @ linalg.cho_solve(P["c"], P["Xt"][:3].T))
    out = {}
    for rtol in (1e-3, 1e-10):
        att = cg_att(P, rtol=rtol)
        it0 = att.solver_info_["iterations"]
        got = att.effects("if", target=targets.linear_predictor(Xq))
        info = att.solver_info_
        out[rtol] = (info["iterations"] - it0, rel(got, exact), info["max_residual"])
        assert info["max_residual"] <= rtol * 1.0001
    assert out[1e-3][0] < out[1e-10][0]
    assert out[1e-3][1] > 100 * out[1e-10][1]
    assert out[1e-3][1] <= P["cond"] * out[1e-3][2]


def test_refined_newton_and_retrain_match_primal():
    P = problem()
    att, ref = cg_att(P), leaveout.Attributor(P["m"], P["X"], P["y"], P["sw"], solver="primal")
    T = [np.arange(5), np.arange(20, 45)]
    assert rel(att.effects("newton", remove=T, steps=3), ref.effects("newton", remove=T,
                                                                     steps=3)) < 1e-7
    assert rel(att.effects("retrain", remove=T), ref.effects("retrain", remove=T)) < 1e-7


def test_zero_weight_row_leverage_and_loo():
    """A row of zero sample weight: leverage exactly 0 (standard error 0), and its own
    q = x̃ᵀH⁻¹x̃ (leave-one-out predictors) solved for directly, not read off h / w."""
    P = dict(problem())
    sw = P["sw"].copy()
    sw[3] = 0.0
    m = leaveout.fit(P["X"], P["y"], l2=LAM, sample_weight=sw)
    att = leaveout.Attributor(m, P["X"], P["y"], sw, solver="cg", probes=8)
    ref = leaveout.Attributor(m, P["X"], P["y"], sw, solver="primal")
    assert att.leverage[3] == 0.0 and att.leverage_se[3] == 0.0
    from leaveout.loo import own_quadratic

    assert own_quadratic(att._state)[3] == pytest.approx(own_quadratic(ref._state)[3],
                                                         rel=1e-8)


def test_set_leverage_exact_block_and_lanczos():
    P = problem()
    att = cg_att(P)
    for T in (np.arange(10), np.arange(30, 130)):    # ≤ BLOCK rows: exact; more: Lanczos
        S = P["Xt"][T] * np.sqrt(P["w"][T])[:, None]
        G = S @ linalg.cho_solve(P["c"], S.T)
        assert att.set_leverage(T) == pytest.approx(np.linalg.eigvalsh(G)[-1], abs=1e-4)


def test_dense_design_and_all_row_refusal():
    P = problem("squared")
    Xd = P["X"].toarray()
    att_d = leaveout.Attributor(P["m"], Xd, P["y"], P["sw"], solver="cg", probes=8)
    att_s = cg_att(P, probes=8)
    # The probes are solved to 1e-6 only: the two designs stop at slightly different iterates.
    np.testing.assert_allclose(att_d.leverage, att_s.leverage, rtol=0, atol=1e-4)
    tq = targets.loss(Xd[:3], P["y"][:3])
    np.testing.assert_allclose(att_d.effects("if", target=tq),
                               att_s.effects("if", target=targets.loss(P["X"][:3], P["y"][:3])),
                               rtol=1e-8, atol=1e-10)
    for method in ("if", "rif", "newton"):
        with pytest.raises(ProblemTooLargeError, match="300 conjugate-gradient solves"):
            att_s.effects(method)


def test_auto_takes_cg_when_neither_exact_form_fits(monkeypatch):
    rng = np.random.default_rng(4)
    n, p = 1000, 600
    X = sp.random(n, p, density=0.02, random_state=4, format="csr")
    y = (rng.random(n) < 0.5).astype(float)
    # primal needs ~5.8 MiB (2 · 8 p²), kernel ~23 MiB (3 · 8 n²), cg ~3.4 MiB.
    monkeypatch.setattr(solvers, "MEMORY_LIMIT", 4 << 20)
    m = leaveout.fit(X, y, l2=LAM)
    assert m.solver_ == "cg"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        att = leaveout.Attributor(m, X, y)
    assert att.solver_ == "cg" and "neither the primal form" in att.solver_reason_
    assert att.effects("rif", remove=[1, 2, 3]).shape == (p + 1,)
    with pytest.raises(ProblemTooLargeError, match="The primal form .* solver='cg' .conjugate"):
        leaveout.Attributor(m, X, y, solver="primal")
    assert leaveout.Attributor(m, X, y, solver="auto").solver_info_["solver"] == "cg"
    # l2 = 0 with p > n: H is singular, so no fallback to an iteration that cannot converge.
    Xw = sp.random(200, 700, density=0.02, random_state=5, format="csr")
    from leaveout.designs import make_design
    with pytest.raises(ProblemTooLargeError, match="The primal form"):
        solvers.choose(make_design(Xw, True), 0.0, "auto")
    monkeypatch.setattr(solvers, "MEMORY_LIMIT", None)
    assert leaveout.Attributor(m, X, y).solver_info_ == {"solver": "primal", "exact": True}


@pytest.mark.parametrize("kw, match", [
    ({"rtol": -1e-8}, "'rtol' parameter of Attributor must be a float in \\(0, 1\\)"),
    ({"rtol": 0.0}, "'rtol'"), ({"rtol": 1.0}, "'rtol'"), ({"rtol": np.nan}, "'rtol'"),
    ({"rtol": True}, "'rtol'"),
    ({"probes": 0}, "'probes' parameter of Attributor must be an int in \\[1, inf\\)"),
    ({"probes": 2.5}, "'probes'"), ({"probes": True}, "'probes'"),
    ({"random_state": -1}, "'random_state' parameter of Attributor must be an int"),
])
def test_bad_knobs(kw, match):
    P = problem()
    with pytest.raises(ValueError, match=match):
        cg_att(P, **kw)
