"""CGFactor: the accuracy knob (rtol) and the honesty of the residuals it reports."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import linalg

from leaveout.designs import make_design
from leaveout.solvers.cg import CGFactor


def _problem(seed=0, n=300, p=500):
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=0.03, random_state=seed, format="csr")
    X.data = rng.standard_normal(X.data.size)
    design = make_design(X, True)
    w = rng.uniform(0.05, 0.25, n)
    penalty = np.full(design.n_params, 0.5)
    A = np.column_stack([design.matvec(e) for e in np.eye(design.n_params)])
    H = A.T @ (w[:, None] * A) + np.diag(penalty)
    return design, w, penalty, H, rng


@pytest.mark.parametrize("rtol", [1e-3, 1e-6, 1e-10])
def test_reported_residual_is_true_and_bounds_error(rtol):
    design, w, penalty, H, rng = _problem()
    B = rng.standard_normal((design.n_params, 3))
    f = CGFactor(design, w, penalty, rtol=rtol)
    Z = f.solve(B)
    exact = linalg.cho_solve(linalg.cho_factor(H), B)
    cond = np.linalg.cond(H)
    assert len(f.info) == 3
    for j, rec in enumerate(f.info):
        res = np.linalg.norm(H @ Z[:, j] - B[:, j]) / np.linalg.norm(B[:, j])
        assert rec["residual"] == pytest.approx(res, rel=1e-6, abs=1e-15)
        assert rec["residual"] <= rtol * 1.01
        assert rec["iterations"] > 0
        err = np.linalg.norm(Z[:, j] - exact[:, j]) / np.linalg.norm(exact[:, j])
        assert err <= cond * rec["residual"] * (1 + 1e-6) + 1e-14


def test_knob_trades_iterations_for_accuracy():
    design, w, penalty, H, rng = _problem(1)
    b = rng.standard_normal(design.n_params)
    loose, tight = (CGFactor(design, w, penalty, rtol=t) for t in (1e-2, 1e-10))
    exact = linalg.solve(H, b, assume_a="pos")
    errs = [np.linalg.norm(f.solve(b) - exact) for f in (loose, tight)]
    assert loose.info[0]["iterations"] < tight.info[0]["iterations"]
    assert errs[1] < errs[0]
