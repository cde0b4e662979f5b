import numpy as np
import pytest

from leaveout.families import FAMILIES


def make_data(family, n=120, p=8, seed=0, scale=1.0):
    """A small synthetic design with labels from ``family``'s own model."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * scale
    beta = rng.normal(size=p) / np.sqrt(p)
    eta = X @ beta + 0.3
    if family == "logistic":
        y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    elif family == "poisson":
        y = rng.poisson(np.exp(0.5 * eta)).astype(float)
    else:
        y = eta + rng.normal(size=n)
    return X, y


@pytest.fixture(params=sorted(FAMILIES))
def family(request):
    return request.param
