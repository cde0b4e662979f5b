"""Every family in the registry: derivatives against central finite differences."""

import numpy as np
import pytest

from leaveout.families import FAMILIES, get_family

ETA = np.linspace(-4, 4, 41)


def _labels(fam):
    if fam.name == "logistic":
        return np.array([0.0, 1.0, 0.3])
    if fam.name == "poisson":
        return np.array([0.0, 1.0, 7.0])
    return np.array([-2.0, 0.0, 3.5])


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_derivatives_match_finite_differences(name):
    # Reference: central differences with step 1e-5; tolerance 1e-6 relative to scale.
    fam = get_family(name)
    eps = 1e-5
    for yv in _labels(fam):
        y = np.full_like(ETA, yv)
        d1_fd = (fam.loss(ETA + eps, y) - fam.loss(ETA - eps, y)) / (2 * eps)
        d2_fd = (fam.d1(ETA + eps, y) - fam.d1(ETA - eps, y)) / (2 * eps)
        dm_fd = (fam.mean(ETA + eps) - fam.mean(ETA - eps)) / (2 * eps)
        np.testing.assert_allclose(fam.d1(ETA, y), d1_fd, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(fam.d2(ETA, y), d2_fd, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(fam.mean_derivative(ETA), dm_fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_curvature_non_negative_and_loss_finite(name):
    fam = get_family(name)
    for yv in _labels(fam):
        y = np.full_like(ETA, yv)
        assert np.all(fam.d2(ETA, y) >= 0)
        assert np.all(np.isfinite(fam.loss(ETA, y)))


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_fused_loss_and_d1_match_loss_and_d1(name):
    # Reference: the family's own loss and d1 (the forms the fused sweep replaces), to 2 ulp
    # of each value (4 ulp of the terms for logistic's fractional labels, where ℓ' is a
    # difference), at moderate and extreme η (η = ±40: ℓ and ℓ' ≈ 4e-18, relative precision kept).
    fam = get_family(name)
    eta = np.concatenate([ETA, [-800.0, -40.0, -1e-300, 0.0, 1e-300, 40.0, 800.0]])
    for yv in _labels(fam):
        y = np.full_like(eta, yv)
        with np.errstate(over="ignore"):
            loss, d1 = fam.loss_and_d1(eta, *fam.fused_labels(y))
            ref_loss, ref_d1 = fam.loss(eta, y), fam.d1(eta, y)
        finite = np.isfinite(ref_loss)
        assert np.array_equal(np.isfinite(loss), finite)
        eps = np.finfo(float).eps
        np.testing.assert_allclose(loss[finite], ref_loss[finite], rtol=2 * eps, atol=0)
        size = np.abs(ref_d1) + (4 * np.abs(y) if 0 < yv < 1 else 0)
        assert np.all(np.abs(d1[finite] - ref_d1[finite]) <= 2 * eps * size[finite])


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_fused_d1_matches_d1(name):
    # d1_fused (the gradient terms of a sweep without the objective) to 2 ulp of d1's value
    # (of the terms for logistic's fractional labels), at moderate and extreme η; where
    # logistic's e^{−η} is capped (η < −700) the error is below 1e-300, absolute.
    fam = get_family(name)
    eta = np.concatenate([ETA, [-800.0, -40.0, -1e-300, 0.0, 1e-300, 40.0, 800.0]])
    for yv in _labels(fam):
        y = np.full_like(eta, yv)
        with np.errstate(over="ignore"):
            d1 = fam.d1_fused(eta, *fam.fused_labels(y))
            ref = fam.d1(eta, y)
        finite = np.isfinite(ref)
        assert np.array_equal(np.isfinite(d1), finite)
        eps = np.finfo(float).eps
        size = np.abs(ref) + (4 * np.abs(y) if 0 < yv < 1 else 0)
        assert np.all(np.abs(d1[finite] - ref[finite]) <= 2 * eps * size[finite] + 1e-300)


def test_logistic_loss_stable_at_extremes():
    fam = get_family("logistic")
    eta = np.array([-800.0, 800.0])
    np.testing.assert_allclose(fam.loss(eta, np.array([0.0, 1.0])), [0.0, 0.0], atol=1e-300)
    np.testing.assert_allclose(fam.loss(eta, np.array([1.0, 0.0])), [800.0, 800.0])


def test_unknown_family_lists_valid_names():
    with pytest.raises(ValueError, match="logistic, poisson, squared"):
        get_family("gamma")
    with pytest.raises(TypeError, match="family must be a string"):
        get_family(3)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_nonnegative_loss_flag_is_true_only_where_the_loss_cannot_be_negative(name):
    # The fit takes L itself as the scale Σ s|ℓ| of its rounding where the flag says ℓ ≥ 0.
    fam = get_family(name)
    eta = np.concatenate([ETA, [-40.0, 0.0, 40.0]])
    losses = [fam.loss(eta, np.full_like(eta, yv)) for yv in _labels(fam)]
    if fam.nonnegative_loss:
        assert all(np.all(v >= 0.0) for v in losses)
    else:  # Poisson: ℓ = e^η − yη < 0 e.g. at η = 1, y = 3
        assert name == "poisson" and fam.loss(np.array([1.0]), np.array([3.0]))[0] < 0
