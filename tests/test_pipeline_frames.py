"""Pipelines (transformers held fixed), labelled results (as_frame) and Attributor.top.

References: the final estimator attributed by hand on the transformed X (the documented
equivalence), scikit-learn refits of the final step, and closed-form ridge leave-one-out by
NumPy solves (no leaveout code).
"""

import warnings

import numpy as np
import pytest

import leaveout
from leaveout import targets

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.pipeline import Pipeline, make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402


def _frame(n=150, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n) * 5 + 3, "b": rng.normal(size=n),
                       "city": rng.choice(["Oslo", "Rome", "Lima"], n)},
                      index=[f"r{i}" for i in range(n)])
    logit = df.a / 5 + df.b + (df.city == "Rome") + rng.normal(size=n) - 1
    return df, (logit > 0).astype(int), 2 * df.a - df.b + (df.city == "Lima") + rng.normal(size=n)


def _prep(sparse=True):
    return ColumnTransformer([("num", StandardScaler(), ["a", "b"]),
                              ("cat", OneHotEncoder(sparse_output=sparse), ["city"])],
                             sparse_threshold=1.0 if sparse else 0.0)  # sparse: densified


@pytest.fixture(scope="module")
def logistic_pipe():
    df, y, _ = _frame()
    pipe = Pipeline([("prep", _prep()), ("clf", LogisticRegression(C=0.5, tol=1e-12,
                                                                   max_iter=5000))]).fit(df, y)
    return pipe, df, y


def test_pipeline_equals_final_step_on_transformed_X(logistic_pipe):
    pipe, df, y = logistic_pipe
    att = leaveout.Attributor(pipe, df, y)
    Xt = pipe[:-1].transform(df)
    assert hasattr(Xt, "toarray")  # the transformers' output is sparse; leaveout densifies it
    Xt = Xt.toarray()
    ref = leaveout.Attributor(pipe[-1], Xt, y)
    np.testing.assert_allclose(att.params_, ref.params_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(att.effects("rif"), ref.effects("rif"), rtol=1e-10, atol=1e-14)
    # Raw query rows go through the same fitted transformers.
    q = df.iloc[[3, 7, 11]]
    np.testing.assert_allclose(
        att.effects("newton", remove=[0, 5], target=targets.prediction(q), by="position"),
        ref.effects("newton", remove=[0, 5], target=targets.prediction(Xt[[3, 7, 11]])),
        rtol=1e-10, atol=1e-14)
    assert att.param_names_ == ["num__a", "num__b", "cat__city_Lima", "cat__city_Oslo",
                                "cat__city_Rome", "intercept"]
    assert list(att.feature_names_in_) == ["a", "b", "city"]
    assert att.pipeline_ is pipe and list(att.row_labels_[:2]) == ["r0", "r1"]


def test_pipeline_retrain_matches_sklearn_refit_of_the_final_step(logistic_pipe):
    """Transformers held fixed: removing row i refits only the last step on φ(X) without i."""
    pipe, df, y = logistic_pipe
    att = leaveout.Attributor(pipe, df, y)
    Xt = pipe[:-1].transform(df).toarray()
    keep = np.arange(len(df)) != 4
    sk = LogisticRegression(C=0.5, tol=1e-12, max_iter=5000).fit(Xt[keep], y[keep])
    expected = np.r_[sk.coef_.ravel(), sk.intercept_] - att.params_
    np.testing.assert_allclose(att.effects("retrain", remove=[4], by="position"), expected,
                               rtol=1e-5, atol=1e-7)


def test_pipeline_of_scaler_and_ridge_with_numpy_X():
    _, _, yr = _frame()
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 4)) * [1, 10, 100, 0.1]
    y = X @ [1, 0.1, 0.01, 10] + rng.normal(size=80)
    pipe = make_pipeline(StandardScaler(), Ridge(alpha=2.0)).fit(X, y)
    att = leaveout.Attributor(pipe, X, y)
    Z = pipe[0].transform(X)
    # Squared loss: RIF is exact leave-one-out (PRESS) in the scaled space.
    np.testing.assert_allclose(att.effects("rif", target=targets.linear_predictor(X[:5])),
                               _ridge_loo(Z, y, 2.0, Z[:5]), rtol=1e-8, atol=1e-10)
    assert att.param_names_ == ["x0", "x1", "x2", "x3", "intercept"]
    assert att.row_labels_ is None


def test_transformed_query_rows_are_refused():
    df, y, _ = _frame()
    prep = _prep(sparse=False).set_output(transform="pandas")
    pipe = Pipeline([("prep", prep), ("clf", LogisticRegression(tol=1e-12))]).fit(df, y)
    att = leaveout.Attributor(pipe, df, y)
    with pytest.raises(ValueError, match="have the pipeline's transformed columns"):
        att.effects(target=targets.linear_predictor(prep.transform(df.iloc[:3])))
    with pytest.raises(ValueError, match="could not transform the target's query rows"):
        att.effects(target=targets.linear_predictor(df[["a", "b"]].iloc[:3]))


def test_raw_string_query_rows_without_a_pipeline_are_refused():
    df, _, yr = _frame()
    X = df[["a", "b", "a"]].to_numpy()
    att = leaveout.Attributor(leaveout.fit(X, yr, family="squared", l2=1.0), X, yr)
    t = targets.linear_predictor(df.iloc[:3])  # has a string column: deferred to binding
    with pytest.raises(TypeError, match="city"):
        att.effects(target=t)


# --------------------------------------------------------------------------------------------
# as_frame and top
# --------------------------------------------------------------------------------------------


def _ridge_loo(X, y, lam, Xq):
    """Exact leave-one-out change of x̃_q·θ for ridge with an unpenalised intercept, by NumPy
    solves of the normal equations without each row (shares no code with leaveout)."""
    n, d = X.shape
    Xt = np.c_[X, np.ones(n)]
    P = np.eye(d + 1)
    P[-1, -1] = 0
    theta = np.linalg.solve(Xt.T @ Xt + lam * P, Xt.T @ y)
    Q = np.c_[Xq, np.ones(len(Xq))]
    out = np.empty((n, len(Xq)))
    for i in range(n):
        k = np.arange(n) != i
        th = np.linalg.solve(Xt[k].T @ Xt[k] + lam * P, Xt[k].T @ y[k])
        out[i] = Q @ (th - theta)
    return out


@pytest.fixture(scope="module")
def ridge_att():
    df, _, yr = _frame(n=60, seed=5)
    X = df[["a", "b"]].assign(c=np.sin(df.a))
    att = leaveout.Attributor(Ridge(alpha=3.0).fit(X, yr), X, yr)
    return att, X, yr


def test_top_matches_exact_leave_one_out(ridge_att):
    att, X, y = ridge_att
    Xq = X.iloc[[2, 9, 30, 41]]
    exact = _ridge_loo(X.to_numpy(), y.to_numpy(), 3.0, Xq.to_numpy())  # (n, 4)
    table = att.top(targets.linear_predictor(Xq), k=5, method="rif", verify=True)
    assert list(table.columns) == ["query", "rank", "train", "effect", "method", "retrained"]
    assert len(table) == 20 and (table["method"] == "rif").all()
    for j, q in enumerate(Xq.index):
        rows = table[table["query"] == q]
        order = np.argsort(-np.abs(exact[:, j]), kind="stable")[:5]
        assert list(rows["train"]) == [X.index[i] for i in order]
        assert list(rows["rank"]) == [1, 2, 3, 4, 5]
        np.testing.assert_allclose(rows["effect"], exact[order, j], rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(rows["retrained"], exact[order, j], rtol=1e-6, atol=1e-9)


def test_top_scalar_target_and_k_larger_than_n(ridge_att):
    att, X, y = ridge_att
    t = targets.loss(X.iloc[:5], y.iloc[:5], reduce="sum")
    table = att.top(t, k=1000, method="if")
    assert len(table) == att.n_samples and (table["query"] == "loss (sum)").all()
    e = att.effects("if", target=t)
    assert np.all(np.diff(np.abs(table["effect"].to_numpy())) <= 0)
    np.testing.assert_array_equal(np.sort(table["effect"]), np.sort(e))


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "3"])
def test_top_rejects_bad_k(ridge_att, k):
    att, X, _ = ridge_att
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        att.top(targets.linear_predictor(X.iloc[:2]), k=k)


def test_top_rejects_non_targets(ridge_att):
    att, X, _ = ridge_att
    with pytest.raises(TypeError, match="target must be made by leaveout.targets"):
        att.top(X.iloc[:2])


def test_as_frame_labels_every_form(ridge_att):
    att, X, y = ridge_att
    names = ["a", "b", "c", "intercept"]
    f = att.effects("rif", as_frame=True)
    assert list(f.columns) == names and list(f.index) == list(X.index)
    np.testing.assert_array_equal(f.to_numpy(), att.effects("rif"))
    one = att.effects("newton", remove=[1, 2], as_frame=True, by="position")
    assert one.shape == (1, 4) and one.index.name == "set"
    np.testing.assert_array_equal(one.to_numpy()[0],
                                  att.effects("newton", remove=[1, 2], by="position"))
    sets = att.effects("retrain", remove=[[1], [2, 3]], as_frame=True, by="position")
    assert sets.shape == (2, 4) and list(sets.columns) == names
    q = X.iloc[[4, 8]]
    t = att.effects("if", target=targets.prediction(q), as_frame=True)
    assert list(t.columns) == list(q.index) and t.shape == (len(X), 2)
    s = att.effects("if", remove=[[0], [1], [2]], target=targets.loss(q, y.iloc[[4, 8]],
                                                                      reduce="sum"),
                    as_frame=True, by="position")
    assert s.shape == (3, 1) and list(s.columns) == ["loss (sum)"]
    np.testing.assert_array_equal(
        s.to_numpy()[:, 0],
        att.effects("if", remove=[[0], [1], [2]], target=targets.loss(q, y.iloc[[4, 8]],
                                                                      reduce="sum"),
                    by="position"))


def test_numpy_inputs_are_labelled_by_position():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 2))
    y = X @ [1.0, -1.0] + rng.normal(size=30)
    att = leaveout.Attributor(leaveout.fit(X, y, family="squared", l2=1.0), X, y)
    f = att.effects(target=targets.linear_predictor(X[:3]), as_frame=True)
    assert list(f.index) == list(range(30)) and list(f.columns) == [0, 1, 2]
    table = att.top(targets.linear_predictor(X[:1]), k=3)
    assert table["train"].tolist() == np.argsort(-np.abs(f[0].to_numpy()))[:3].tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert att.effects(as_frame=True).columns.tolist() == ["x0", "x1", "intercept"]
