"""Write the example CSV files from scikit-learn's bundled breast-cancer data (offline).

    python examples/make_csv.py    # rewrites examples/*.csv (deterministic)

- breast_cancer_train.csv: 455 rows, an ``id``, the 30 measurements, a ``source`` column and
  the label ``diagnosis`` (malignant / benign). The sources are simulated: 30 % of the rows are
  said to come from ``clinic_b``, and 25 % of clinic_b's labels were flipped on purpose (their
  ids are in flipped_ids.txt), so that the user guide can find mislabelled rows and value a
  data source. clinic_a's labels are the original ones.
- breast_cancer_test.csv: the other 114 rows, original labels.
- breast_cancer_query.csv: the first 5 test rows without their label.
"""

from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer

HERE = Path(__file__).resolve().parent

data = load_breast_cancer(as_frame=True)
df = data.frame.rename(columns=lambda c: c.replace(" ", "_"))
df["diagnosis"] = np.where(data.target == 0, "malignant", "benign")
df = df.drop(columns="target")
df.insert(0, "id", [f"p{i:03d}" for i in range(len(df))])
rng = np.random.default_rng(0)
perm = rng.permutation(len(df))
train, test = df.iloc[perm[:455]].copy(), df.iloc[perm[455:]].copy()
train.insert(1, "source", np.where(rng.random(len(train)) < 0.3, "clinic_b", "clinic_a"))
b = np.flatnonzero(train["source"].to_numpy() == "clinic_b")
flip = rng.choice(b, size=len(b) // 4, replace=False)
flipped = train["diagnosis"].iloc[flip].map({"malignant": "benign", "benign": "malignant"})
train.iloc[flip, train.columns.get_loc("diagnosis")] = flipped.to_numpy()
train.to_csv(HERE / "breast_cancer_train.csv", index=False, float_format="%.6g")
test.to_csv(HERE / "breast_cancer_test.csv", index=False, float_format="%.6g")
test.drop(columns="diagnosis").iloc[:5].to_csv(HERE / "breast_cancer_query.csv", index=False,
                                               float_format="%.6g")
(HERE / "flipped_ids.txt").write_text("\n".join(sorted(train["id"].iloc[flip])) + "\n")
