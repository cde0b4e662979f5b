"""The worked examples of docs/guide-answers.md; run: PYTHONPATH=src python docs/guide_answers.py"""
import warnings

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import leaveout
from leaveout import targets

# --- data: scikit-learn's breast-cancer table, standardised, 80/20 split ----------------------
data = load_breast_cancer(as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(
    data.data, data.target, test_size=0.2, random_state=0, stratify=data.target)
scaler = StandardScaler().set_output(transform="pandas").fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

# --- 1. which penalty? -------------------------------------------------------------------------
cv = leaveout.GLMCV(family="logistic").fit(X_train, y_train)
print(f"chosen l2 = {cv.l2_:.3f}; leave-one-out log-loss there {cv.loo_risk_[cv.best_index_]:.4f}"
      f"; path {cv.l2s_[0]:.1f} ... {cv.l2s_[-1]:.5f} ({cv.l2s_.size} penalties)")
print(f"test log-loss {-cv.score(X_test, y_test):.4f}")
with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # scikit-learn 1.9's l1_ratios transition
    sk = LogisticRegressionCV(Cs=1 / cv.l2s_, cv=5, scoring="neg_log_loss",
                              max_iter=10000).fit(X_train, y_train)
print(f"LogisticRegressionCV (5-fold, same grid) chose l2 = {1 / sk.C_[0]:.3f}")

att = leaveout.Attributor(cv, X_train, y_train)        # at the chosen l2, held fixed
eta = att.evaluate(targets.linear_predictor(X_train))
alo = att.loo_linear_predictor("rif")                  # one fit
exact = att.loo_linear_predictor("retrain")            # n refits
print(f"leave-one-out shift of eta: up to {np.abs(exact - eta).max():.2f}; "
      f"rif is off by at most {np.abs(alo - exact).max():.3f}, "
      f"if by {np.abs(att.loo_linear_predictor('if') - exact).max():.3f}")

# --- 2. which rows are mislabelled? ------------------------------------------------------------
rng = np.random.default_rng(0)
bad = rng.choice(len(y_train), 23, replace=False)      # flip 5 % of the labels
y_noisy = y_train.copy()
y_noisy.iloc[bad] = 1 - y_noisy.iloc[bad]
noisy = leaveout.Attributor(leaveout.fit(X_train, y_noisy, l2=cv.l2_), X_train, y_noisy)
si = noisy.self_influence("rif")
top = np.argsort(-si)[:23]
eta_n = noisy.evaluate(targets.linear_predictor(X_train))
train_loss = np.logaddexp(0, eta_n) - y_noisy.to_numpy() * eta_n
for name, score in [("rif self-influence", si), ("if self-influence", noisy.self_influence("if")),
                    ("training loss", train_loss)]:
    print(f"flipped rows among the top 23 by {name}: {np.isin(np.argsort(-score)[:23], bad).sum()}")
print(pd.DataFrame({"self_influence": si[top[:5]], "label": y_noisy.iloc[top[:5]].to_numpy(),
                    "flipped": np.isin(top[:5], bad)}, index=X_train.index[top[:5]]).round(3))

# --- 3. would the conclusion survive dropping a few rows? ---------------------------------------
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for name in ["radius error", "mean concave points"]:
        res = att.smallest_removal(targets.coefficient(name), max_rows=45)
        print(f"{name}: {res}")
        print("  rows:", X_train.index[res.rows].tolist()[:8], "...")
    i = int(np.argsort(np.abs(cv.decision_function(X_test)))[10])
    res = att.smallest_removal(targets.linear_predictor(X_test.iloc[[i]]), max_rows=45)
    print(f"test row {X_test.index[i]}: {res}")
