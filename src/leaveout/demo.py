"""The demo: a logistic model on scikit-learn's bundled breast-cancer data, attributed four ways.

Uses the public API only.  Returns the numbers it shows so they can be tested.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from . import targets
from .attributor import Attributor
from .estimators import METHODS
from .exceptions import SetLeverageWarning
from .fitting import fit


@dataclass
class DemoResult:
    n_train: int
    n_test: int
    n_params: int
    l2: float
    leverage: np.ndarray
    rows: list  # (set name, size, {method: Δ Σ test logits}, {method: parameter rel. error})
    set_leverage: list = field(default_factory=list)  # att.set_leverage of each set


def _load_breast_cancer(seed: int):
    try:
        from sklearn.datasets import load_breast_cancer
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "The demo uses scikit-learn's bundled breast-cancer data: "
            'pip install "leaveout[demo]" (or pip install scikit-learn).') from None
    data = load_breast_cancer()
    X, y = data.data.astype(np.float64), (data.target == 0).astype(np.float64)  # 1 = malignant
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    n_test = len(y) // 5
    test, train = perm[:n_test], perm[n_test:]
    mu, sd = X[train].mean(axis=0), X[train].std(axis=0)
    X = (X - mu) / sd
    return X[train], y[train], X[test], y[test]


def run_demo(seed: int = 0, l2: float = 1.0) -> DemoResult:
    """Fit, attribute, and compare the estimators on a few removal sets."""
    X, y, X_test, y_test = _load_breast_cancer(seed)
    model = fit(X, y, family="logistic", l2=l2)
    att = Attributor(model, X, y)
    n = len(y)
    rng = np.random.default_rng(seed)
    train_loss = model.loss(X, y)
    k = max(1, n // 50)
    center = int(rng.integers(n))
    nearest = np.argsort(np.linalg.norm(X - X[center], axis=1))[:k]
    test_loss = targets.loss(X_test, y_test, reduce="sum")
    if_test = att.effects("if", target=test_loss, linearize=True)  # first order
    sets = [
        ("highest-leverage row", np.array([int(np.argmax(att.leverage))])),
        ("highest-loss row", np.array([int(np.argmax(train_loss))])),
        (f"random {k} rows", rng.choice(n, size=k, replace=False)),
        (f"{k} nearest neighbours of row {center}", nearest),
        (f"{k} highest-loss rows", np.argsort(train_loss)[-k:]),
        (f"{k} rows most raising test loss (IF)", np.argsort(if_test)[:k]),
        (f"{5 * k} highest-loss rows", np.argsort(train_loss)[-5 * k:]),
    ]
    set_list = [s for _, s in sets]
    test_logits = targets.linear_predictor(X_test, reduce="sum")
    set_lev = [float(v) for v in att.set_leverage(set_list)]
    # The demo contrasts the additive estimates with Newton on purpose, so instead of a
    # SetLeverageWarning per call it shows each set's leverage in the table.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SetLeverageWarning)
        effects = {m: att.effects(m, remove=set_list, target=test_logits) for m in METHODS}
        params = {m: att.effects(m, remove=set_list) for m in METHODS}
    truth = params["retrain"]
    rows = []
    for j, (name, s) in enumerate(sets):
        err = {m: float(np.linalg.norm(params[m][j] - truth[j]) / np.linalg.norm(truth[j]))
               for m in METHODS[:3]}
        rows.append((name, len(s), {m: float(effects[m][j]) for m in METHODS}, err))
    return DemoResult(n, len(y_test), att.n_params, l2, att.leverage, rows, set_lev)


def format_demo(res: DemoResult) -> str:
    h = res.leverage
    q = np.quantile(h, [0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0])
    lines = [
        "leaveout demo — breast cancer (scikit-learn's bundled copy of the Wisconsin data)",
        f"logistic regression, l2 = {res.l2:g} (sum convention), {res.n_train} training rows, "
        f"{res.n_test} test rows, {res.n_params} parameters (30 standardised features + intercept)",
        "",
        "Leverage h_i = w_i x̃_iᵀ H⁻¹ x̃_i over the training rows:",
        f"  mean {h.mean():.4f}   min {q[0]:.4f}   25% {q[1]:.4f}   median {q[2]:.4f}   "
        f"75% {q[3]:.4f}   90% {q[4]:.4f}   99% {q[5]:.4f}   max {q[6]:.4f}",
        "",
        "Change in the sum of the test rows' logits when the set is removed, and the relative",
        "error of each estimate of the parameter change, ||Δ − Δ_retrain|| / ||Δ_retrain||:",
        "",
    ]
    head = f"  {'removal set':<40}{'size':>5}{'set lev':>8}" + "".join(f"{m:>9}" for m in METHODS) + \
        "   " + "".join(f"{'err ' + m:>12}" for m in METHODS[:3])
    lines.append(head)
    lines.append("  " + "-" * (len(head) - 2))
    levs = res.set_leverage or [float("nan")] * len(res.rows)
    for (name, size, eff, err), lev in zip(res.rows, levs):
        lines.append(f"  {name:<40}{size:>5}{lev:>8.2f}" + "".join(f"{eff[m]:>9.3f}" for m in METHODS)
                     + "   " + "".join(f"{err[m]:>12.1%}" for m in METHODS[:3]))
    lines += ["", "if underestimates each effect by about (1 − leverage); rif rescales it away; the",
              "Newton step also accounts for the interactions within a set; retrain is exact.",
              "'set lev' is att.set_leverage(set) (h_i for one row): above 0.3 the additive if/rif",
              "estimates are unreliable and leaveout warns when they are asked for; use newton."]
    return "\n".join(lines)
