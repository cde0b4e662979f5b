"""Poisson regression with log link: ``ℓ(η, y) = e^η − yη`` for counts ``y ≥ 0``."""

from __future__ import annotations

import numpy as np

from ._base import Family


class Poisson(Family):
    name = "poisson"
    y_domain = "non-negative values (counts)"

    def loss(self, eta, y):
        return np.exp(eta) - y * eta

    def d1(self, eta, y):
        return np.exp(eta) - y

    def weighted_d1_into(self, eta, y, s, sy):
        np.exp(eta, out=eta)   # s ∘ e^η − s ∘ y, in place
        eta *= s
        eta -= sy
        return eta

    def loss_and_d1(self, eta, y):
        m = np.exp(eta)
        return m - y * eta, m - y

    def d1_fused(self, eta, y):
        return np.exp(eta) - y

    def d2(self, eta, y):
        return np.exp(eta)

    def loss_change(self, eta, D, y):
        # e^{η+D} − e^η = e^η (e^D − 1), with expm1 accurate for small D.
        return np.exp(eta) * np.expm1(D) - y * D

    def mean_change(self, eta, D):
        return np.exp(eta) * np.expm1(D)

    def mean(self, eta):
        return np.exp(eta)

    def mean_derivative(self, eta):
        return np.exp(eta)

    def invalid_labels(self, y):
        return y < 0.0

    def initial_intercept(self, y, weights):
        ybar = np.average(y, weights=weights)
        return float(np.log(max(ybar, 1e-3)))
