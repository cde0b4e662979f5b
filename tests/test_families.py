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
