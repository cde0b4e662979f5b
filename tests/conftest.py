import os

import numpy as np
import pytest

try:  # hypothesis tests must not fail at random: the same examples on every run and machine
    from hypothesis import settings as _hsettings

    # "ci" (the default): derandomised, no example database (a failure found once must not
    # change which examples later runs draw). LEAVEOUT_HYPOTHESIS_PROFILE=explore draws fresh
    # random examples, for looking for new failures by hand.
    _hsettings.register_profile("ci", derandomize=True, database=None)
    _hsettings.register_profile("explore", derandomize=False, database=None)
    _hsettings.load_profile(os.environ.get("LEAVEOUT_HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # hypothesis is a test extra; its tests skip without it
    pass

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
