"""The plug-in target change f(η + D) − f(η) in each family's cancellation-free form."""

import numpy as np
import pytest

from leaveout.families import get_family

FAMILIES = ["squared", "logistic", "poisson"]


def _labels(name, rng, m):
    if name == "logistic":
        return (rng.random(m) < 0.5).astype(float)
    if name == "poisson":
        return rng.poisson(2.0, m).astype(float)
    return rng.standard_normal(m)


@pytest.mark.parametrize("name", FAMILIES)
def test_loss_change_matches_plain_difference_for_ordinary_shifts(name):
    fam = get_family(name)
    rng = np.random.default_rng(0)
    eta = rng.standard_normal(50)
    y = _labels(name, rng, 50)
    D = rng.standard_normal((7, 50))
    plain = fam.loss(eta + D, y) - fam.loss(eta, y)
    np.testing.assert_allclose(fam.loss_change(eta, D, y), plain, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", FAMILIES)
def test_loss_change_keeps_relative_accuracy_for_tiny_shifts(name):
    # The plain difference loses every digit at D = 1e-13 (it rounds to ~1e-16 absolute);
    # the change must agree with ℓ'(η) D + ℓ''(η) D²/2 to rounding relative to itself.
    fam = get_family(name)
    rng = np.random.default_rng(1)
    eta = rng.uniform(-2.0, 2.0, 40)
    y = _labels(name, rng, 40)
    D = np.full((1, 40), 1e-13)
    expected = fam.d1(eta, y) * D + 0.5 * fam.d2(eta, y) * D**2
    keep = np.abs(fam.d1(eta, y)) > 1e-3
    np.testing.assert_allclose(fam.loss_change(eta, D, y)[:, keep], expected[:, keep], rtol=1e-9)


def test_logistic_loss_change_large_shifts_stay_finite_and_exact():
    fam = get_family("logistic")
    eta = np.array([-40.0, 0.0, 3.0, 40.0])
    y = np.array([0.0, 1.0, 0.0, 1.0])
    D = np.array([[800.0, -800.0, 35.0, -31.0], [-800.0, 800.0, -35.0, 31.0]])
    got = fam.loss_change(eta, D, y)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, fam.loss(eta + D, y) - fam.loss(eta, y), rtol=1e-12)


def test_mean_change_of_squared_and_poisson():
    rng = np.random.default_rng(2)
    eta = rng.standard_normal(30)
    D = 1e-12 * rng.standard_normal((3, 30))
    np.testing.assert_array_equal(get_family("squared").mean_change(eta, D), D)
    np.testing.assert_allclose(get_family("poisson").mean_change(eta, D), np.exp(eta) * D,
                               rtol=1e-9)


@pytest.mark.parametrize("method", ["if", "rif", "newton"])
def test_linear_targets_per_row_plugin_is_the_first_order_answer(method):
    # f linear in θ: plug-in f(θ̂ + Δθ) − f(θ̂) is ∇f·Δθ exactly, so both routes give one answer
    # (taken by the cheaper first-order route, not by differences of f).
    from leaveout import Attributor, fit, targets

    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 6))
    y = (X @ rng.standard_normal(6) + rng.standard_normal(300) > 0).astype(float)
    att = Attributor(fit(X, y, family="logistic", l2=1.0), X, y)
    deltas = att.effects(method)
    for tg in (targets.linear_predictor(X[:4]), targets.linear_predictor(X[:4], reduce="sum"),
               targets.coefficient(2)):
        plug = att.effects(method, target=tg)
        np.testing.assert_array_equal(plug, att.effects(method, target=tg, linearize=True))
        if isinstance(tg, targets.Coefficient):
            np.testing.assert_allclose(plug, deltas[:, 2], rtol=1e-12, atol=1e-15)
