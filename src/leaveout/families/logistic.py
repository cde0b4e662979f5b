"""Binary logistic regression: ``ℓ(η, y) = log(1 + e^η) − yη`` for ``y ∈ [0, 1]``."""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from ._base import Family


class Logistic(Family):
    name = "logistic"
    y_domain = "labels in {0, 1} (or probabilities in [0, 1])"

    def loss(self, eta, y):
        return np.logaddexp(0.0, eta) - y * eta

    def d1(self, eta, y):
        return expit(eta) - y

    def d2(self, eta, y):
        p = expit(eta)
        return p * (1.0 - p)

    def mean(self, eta):
        return expit(eta)

    def mean_derivative(self, eta):
        p = expit(eta)
        return p * (1.0 - p)

    def invalid_labels(self, y):
        return (y < 0.0) | (y > 1.0)

    def initial_intercept(self, y, weights):
        ybar = np.average(y, weights=weights)
        ybar = min(max(ybar, 1e-3), 1.0 - 1e-3)
        return float(np.log(ybar / (1.0 - ybar)))
