"""Refined Newton steps of the kernel form on its row-space design (n × n, X = G Qᵀ), and the
explicit-inverse products that refined steps apply H⁻¹ with.

The row-space problem is an isometric copy of the primal one, so the kernel form's refined
steps must equal the primal solver's (same data, ``solver="primal"``) to rounding — iterates,
steps taken and update sizes — and approach exact retraining like them.
"""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest
from scipy import sparse

import leaveout
from leaveout._solve import CholeskyFactor
from leaveout.designs.dense import DenseDesign
from leaveout.solvers.kernel import KernelFactor

_spec = importlib.util.spec_from_file_location(
    "leaveout_tests_reference_rowspace", pathlib.Path(__file__).with_name("reference.py"))
R = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(R)


def _rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _wide(family, n=50, p=130, seed=0, centred=False):
    X, y = R.make_data(family, n=n, p=p, seed=seed)
    if centred:  # column-centred: the rows are linearly dependent, K = X Xᵀ is singular
        X = X - X.mean(axis=0)
    return X, y


def _pair(X, y, family, fit_intercept=True, s=None, l2=1.0):
    model = leaveout.fit(X, y, family=family, l2=l2, fit_intercept=fit_intercept,
                         sample_weight=s)
    kern = leaveout.Attributor(model, X, y, sample_weight=s, solver="kernel")
    prim = leaveout.Attributor(model, X, y, sample_weight=s, solver="primal")
    assert kern.solver_ == "kernel" and prim.solver_ == "primal"
    return kern, prim


def _sets(X, n, seed=1):
    order = np.argsort(X[:, 0])
    rng = np.random.default_rng(seed)
    return [np.sort(order[:4]), np.sort(rng.choice(n, 5, replace=False)), np.sort(order[-3:])]


@pytest.mark.parametrize("family", R.FAMILIES)
@pytest.mark.parametrize("fit_intercept,weighted,centred",
                         [(True, False, False), (False, False, False), (True, True, True)])
def test_kernel_steps_equal_primal_steps(family, fit_intercept, weighted, centred):
    X, y = _wide(family, centred=centred)
    n = X.shape[0]
    s = np.random.default_rng(5).uniform(0.3, 2.5, n) if weighted else None
    kern, prim = _pair(X, y, family, fit_intercept, s)
    theta = kern.params_.copy()
    sets = _sets(X, n)
    for T in sets:  # one set per call (the scalar iteration)
        a = kern.effects("newton", remove=T, steps=4, tol=0)
        b = prim.effects("newton", remove=T, steps=4, tol=0)
        assert _rel(a, b) < 1e-10
        if family != "squared":  # (squared: exact after one step, the rest is rounding)
            np.testing.assert_array_equal(kern.newton_info_.steps, prim.newton_info_.steps)
            np.testing.assert_allclose(kern.newton_info_.rel_update,
                                       prim.newton_info_.rel_update, rtol=1e-6)
    # every set in one call (side by side), and near the exact refit
    a = kern.effects("newton", remove=sets, steps=6, tol=1e-6)
    b = prim.effects("newton", remove=sets, steps=6, tol=1e-6)
    exact = prim.effects("retrain", remove=sets)
    one = prim.effects("newton", remove=sets)
    for k in range(len(sets)):
        assert _rel(a[k], b[k]) < 1e-9
        assert _rel(a[k], exact[k]) < max(0.05 * _rel(one[k], exact[k]), 1e-8)
    np.testing.assert_array_equal(kern.params_, theta)  # nothing written into θ̂
    assert kern._state._row_space is not None              # (the path under test)


def test_steps_one_of_the_kernel_form_is_unchanged():
    X, y = _wide("logistic")
    kern, _ = _pair(X, y, "logistic")
    T = np.arange(5)
    np.testing.assert_array_equal(kern.effects("newton", remove=T, steps=1),
                                  kern.effects("newton", remove=T))


def test_sparse_wide_design_through_the_kernel_factor():
    # A sparse design: the row space from the Cholesky factor of K; with duplicated rows K is
    # singular and the steps run on the kernel form's own solves.  Both give the primal answer.
    rng = np.random.default_rng(3)
    Xs = sparse.random(40, 200, density=0.15, random_state=3, format="csr") * 3
    y = (rng.random(40) < 0.5).astype(float)
    used = []
    for X in (Xs, sparse.vstack([Xs, Xs[:3]]).tocsr()):
        y2 = np.concatenate([y, y[:3]])[: X.shape[0]]
        model = leaveout.fit(X, y2, l2=1.0)
        kern = leaveout.Attributor(model, X, y2, solver="kernel")
        prim = leaveout.Attributor(model, X.toarray(), y2, solver="primal")
        sets = [np.arange(4), np.array([1, 7, 20, 33])]
        a = kern.effects("newton", remove=sets, steps=5, tol=0)
        b = prim.effects("newton", remove=sets, steps=5, tol=0)
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)
        used.append(kern._state._row_space is not None)
    assert used == [True, False]   # the singular K: not used


def test_per_row_refined_steps_of_the_kernel_form():
    X, y = _wide("logistic", n=30, p=80)
    kern, prim = _pair(X, y, "logistic")
    np.testing.assert_allclose(kern.effects("newton", steps=3), prim.effects("newton", steps=3),
                               rtol=1e-8, atol=1e-12)


def test_inverse_products_match_solves():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(90, 40))
    H = A.T @ A + np.eye(40)
    f = CholeskyFactor(H)
    v, V = rng.normal(size=40), rng.normal(size=(3, 40))
    np.testing.assert_allclose(f.inverse_product(v), np.linalg.solve(H, v), rtol=1e-12)
    np.testing.assert_allclose(f.inverse_product(V), np.linalg.solve(H, V.T).T, rtol=1e-12)
    X = rng.normal(size=(30, 70))
    for fi in (True, False):
        design = DenseDesign(X, fit_intercept=fi)
        w = rng.uniform(0.1, 0.3, 30)
        k = KernelFactor(design, w, 0.7)
        u = rng.normal(size=design.n_params)
        np.testing.assert_allclose(k.inverse_product(u), k.solve(u), rtol=1e-10, atol=1e-14)
        Hd = design.weighted_gram(w)
        Hd[np.diag_indices_from(Hd)] += 0.7 * design.penalty_mask()
        np.testing.assert_allclose(k.inverse_product(u), np.linalg.solve(Hd, u), rtol=1e-9)
