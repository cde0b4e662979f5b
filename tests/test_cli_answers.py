"""`leaveout cv` and `leaveout audit` on CSV files.

References: scikit-learn's RidgeCV (exact leave-one-out for squared loss) and the plain NumPy
refits of tests/reference.py, both on a design one-hot encoded by pandas.get_dummies (no
leaveout code); the Python API for the logistic path.
"""

import numpy as np
import pytest

import leaveout
from leaveout.cli import main
from reference import design, fit_theta

pd = pytest.importorskip("pandas")
pytest.importorskip("click")
from test_cli_data import _data  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_answers")
    df = _data()
    train, query = df.iloc[:55], df.iloc[55:]
    train.to_csv(d / "train.csv", index=False)
    query.drop(columns=["bought"]).to_csv(d / "query.csv", index=False)
    query.to_csv(d / "test.csv", index=False)
    return d, train.reset_index(drop=True), query.reset_index(drop=True)


def _design(frame):
    return pd.get_dummies(frame[["age", "score", "city", "source"]], dtype=float).to_numpy(float)


def _run(args, capsys):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cv_squared_matches_ridgecv(files, capsys):
    from sklearn.linear_model import RidgeCV

    d, train, _ = files
    l2s = [30.0, 10.0, 3.0, 1.0, 0.3]
    rc, out, err = _run(["cv", d / "train.csv", "--target", "spend", "--drop", "uid,bought",
                         "--l2s", ",".join(map(str, l2s)), "--out", d / "cv.csv", "-q"], capsys)
    assert rc == 0, err
    table = pd.read_csv(d / "cv.csv")
    ridge = RidgeCV(alphas=l2s, store_cv_results=True).fit(_design(train), train["spend"])
    np.testing.assert_allclose(table["loo_risk"], ridge.cv_results_.mean(axis=0) / 2, rtol=1e-8)
    assert table.loc[table["chosen"], "l2"].item() == ridge.alpha_
    assert f"chosen l2 = {ridge.alpha_:.6g}" in out


def test_cv_logistic_with_test_losses_matches_the_api(files, capsys):
    d, train, test = files
    rc, out, err = _run(["cv", d / "train.csv", "--target", "bought", "--drop", "uid,spend",
                         "--test", d / "test.csv", "--out", d / "cvl.csv", "-q"], capsys)
    assert rc == 0, err
    table = pd.read_csv(d / "cvl.csv")
    X, y = _design(train), (train["bought"] == "yes").to_numpy(float)
    est = leaveout.GLMCV().fit(X, y)
    np.testing.assert_allclose(table["l2"], est.l2s_, rtol=1e-12)
    np.testing.assert_allclose(table["loo_risk"], est.loo_risk_, rtol=1e-9)
    k = est.best_index_
    Xt, yt = _design(test), (test["bought"] == "yes").to_numpy(float)
    np.testing.assert_allclose(table["test_loss"][k], np.mean(est.loss(Xt, yt)), rtol=1e-9)


def test_audit_coefficients_flip_by_an_independent_refit(files, capsys):
    d, train, _ = files
    rc, out, err = _run(["audit", d / "train.csv", "--target", "bought", "--id", "uid",
                         "--drop", "spend", "--coef", "age,score", "--out", d / "au.csv", "-q"],
                        capsys)
    assert rc == 0, err
    table = pd.read_csv(d / "au.csv")
    assert list(table["target"]) == ["coefficient age", "coefficient score"]
    X, y = _design(train), (train["bought"] == "yes").to_numpy(float)
    for j, (_, r) in enumerate(table.iterrows()):
        assert "coefficient" in out
        if not r["flipped"]:
            continue
        gone = set(str(r["rows"]).split())
        keep = ~train["uid"].isin(gone).to_numpy()
        assert keep.sum() == len(train) - r["size"]
        theta = fit_theta(design(X[keep], True), y[keep], "logistic", 1.0, True)
        assert np.sign(theta[j]) == -np.sign(r["value"])
        assert theta[j] == pytest.approx(r["refit"], rel=1e-6, abs=1e-9)
    assert table["flipped"].any()


def test_audit_query_rows(files, capsys):
    d, _, _ = files
    rc, out, err = _run(["audit", d / "train.csv", "--target", "bought", "--id", "uid",
                         "--drop", "spend", "--query", d / "query.csv", "--max-rows", "3"],
                        capsys)
    assert rc == 0, err
    assert out.count("query u0") == 15 and "rows:" in out


@pytest.mark.parametrize("args, excerpt", [
    (["cv", "{d}/train.csv", "--target", "bought", "--drop", "uid,spend", "--l2s", "a,b"],
     "--l2s: expected comma-separated numbers"),
    (["cv", "{d}/train.csv", "--target", "bought", "--drop", "uid,spend", "--l2s", "1,-2"],
     "contains negative penalties"),
    (["cv", "{d}/train.csv", "--target", "bought", "--l2", "1"], "No such option '--l2'"),
    (["audit", "{d}/train.csv", "--target", "bought", "--drop", "uid,spend"],
     "give exactly one of --coef NAMES or --query FILE"),
    (["audit", "{d}/train.csv", "--target", "bought", "--drop", "uid,spend", "--coef", "nope"],
     "--coef: no coefficient 'nope'; the coefficients are age"),
    (["audit", "{d}/train.csv", "--target", "bought", "--drop", "uid,spend", "--coef", "age",
      "--max-rows", "100"], "max_rows must be between 1 and the number of training rows (55)"),
    (["audit", "{d}/train.csv", "--target", "bought", "--drop", "uid,spend", "--coef", "age",
      "--max-rows", "0"], "Invalid value for '--max-rows'"),
])
def test_user_mistakes_exit_2_with_one_line(files, capsys, args, excerpt):
    d, _, _ = files
    rc, out, err = _run([a.format(d=d) for a in args], capsys)
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("leaveout: error: ") and "Traceback" not in err, err
    assert excerpt in lines[-1], lines[-1]


@pytest.mark.parametrize("command", ["cv", "audit"])
def test_help(capsys, command):
    rc, out, _ = _run([command, "--help"], capsys)
    assert rc == 0 and "Usage: leaveout " + command in out
