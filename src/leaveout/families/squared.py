"""Squared loss (ridge / least squares): ``ℓ(η, y) = (η − y)² / 2``."""

from __future__ import annotations

import numpy as np

from ._base import Family


class Squared(Family):
    name = "squared"
    nonnegative_loss = True
    y_domain = "real numbers"

    def loss(self, eta, y):
        r = eta - y
        return 0.5 * r * r

    def d1(self, eta, y):
        return eta - y

    def weighted_d1_into(self, eta, y, s, sy):
        eta *= s               # s ∘ η − s ∘ y, in place
        eta -= sy
        return eta

    def loss_and_d1(self, eta, y):
        r = eta - y
        return 0.5 * r * r, r

    def d1_fused(self, eta, y):
        return eta - y

    def d2(self, eta, y):
        return np.ones_like(eta)

    def loss_change(self, eta, D, y):
        # ½(η + D − y)² − ½(η − y)² = D(η − y + D/2), exactly, with no difference of squares.
        return D * ((eta - y) + 0.5 * D)

    def mean_change(self, eta, D):
        return D + np.zeros_like(eta)

    def mean(self, eta):
        return eta.copy()

    def mean_derivative(self, eta):
        return np.ones_like(eta)

    def invalid_labels(self, y):
        return np.zeros(y.shape, dtype=bool)

    def initial_intercept(self, y, weights):
        return float(np.average(y, weights=weights))
