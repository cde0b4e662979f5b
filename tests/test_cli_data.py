"""`leaveout attribute / effect / report` on CSV and Parquet files.

References: tests/reference.py (a plain NumPy implementation of the fit, IF, RIF, Newton and
refits) on a design one-hot encoded by pandas.get_dummies — no leaveout code — and the Python
API (the CLI must give the same rows and numbers).
"""

import numpy as np
import pytest

import leaveout
from leaveout import targets
from leaveout.cli import main
from reference import Reference

pd = pytest.importorskip("pandas")
pytest.importorskip("click")


def _data(n=70, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "uid": [f"u{i:03d}" for i in range(n)],
        "age": rng.normal(40, 10, n).round(2),
        "score": rng.normal(size=n).round(3),
        "city": rng.choice(["Oslo", "Rome", "Lima"], n),
        "source": rng.choice(["vendor_a", "vendor_b"], n),
    })
    logit = (df.age - 40) / 10 + (df.city == "Rome") - 0.3 + df.score
    df["bought"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    df["spend"] = (2 * df.score + (df.city == "Lima") + rng.normal(size=n)).round(3)
    return df


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    df = _data()
    train, query = df.iloc[:55], df.iloc[55:].drop(columns=["bought"])
    train.to_csv(d / "train.csv", index=False)
    query.to_csv(d / "query.csv", index=False)
    pytest.importorskip("pyarrow")
    train.to_parquet(d / "train.parquet")
    return d, train.reset_index(drop=True), query.reset_index(drop=True)


def _design(frame):
    """The encoding the CLI documents, by pandas.get_dummies (full one-hot, l2 > 0)."""
    X = pd.get_dummies(frame[["age", "score", "city", "source"]], dtype=float)
    return X.to_numpy(dtype=float)


def _run(args, capsys):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("family, target, method", [
    ("logistic", "bought", "rif"), ("logistic", "bought", "if"),
    ("squared", "spend", "rif"), ("squared", "spend", "newton"),
])
def test_attribute_matches_an_independent_implementation(files, capsys, family, target, method):
    d, train, query = files
    drop = "spend" if target == "bought" else "bought"
    out = d / f"out-{family}-{method}.csv"
    rc, _, err = _run(["attribute", d / "train.csv", "--target", target, "--query",
                       d / "query.csv", "--family", family, "--l2", "2.0", "--method", method,
                       "--top", 4, "--id", "uid", "--drop", drop, "--out", out, "-q"], capsys)
    assert rc == 0, err
    table = pd.read_csv(out)
    assert list(table.columns) == ["query", "rank", "train", "effect", "method"]
    y = (train[target] == "yes").to_numpy(float) if family == "logistic" else train[target]
    ref = Reference(_design(train), np.asarray(y, float), family, l2=2.0)
    Q = np.c_[_design(query), np.ones(len(query))]
    E = ref.effects_rows(method) @ Q.T  # (n, m): change of each query's linear predictor
    assert len(table) == 4 * len(query)
    for j, qid in enumerate(query["uid"]):
        rows = table[table["query"] == qid]
        order = np.argsort(-np.abs(E[:, j]), kind="stable")[:4]
        assert rows["train"].tolist() == train["uid"].iloc[order].tolist()
        assert rows["rank"].tolist() == [1, 2, 3, 4]
        np.testing.assert_allclose(rows["effect"], E[order, j], rtol=1e-6, atol=1e-10)


def test_attribute_verify_and_python_api_agree(files, capsys):
    d, train, query = files
    out = d / "verified.csv"
    rc, stdout, err = _run(["attribute", d / "train.parquet", "--target", "bought", "--query",
                            d / "query.csv", "--drop", "uid,spend", "--top", 3, "--verify",
                            "--out", out], capsys)
    assert rc == 0, err
    table = pd.read_csv(out)
    # Rows named by 0-based row numbers without --id.
    X = pd.get_dummies(train[["age", "score", "city", "source"]], dtype=float)
    y = (train["bought"] == "yes").to_numpy(float)
    att = leaveout.Attributor(leaveout.fit(X, y, family="logistic", l2=1.0), X, y)
    Xq = pd.get_dummies(query[["age", "score", "city", "source"]], dtype=float)
    expected = att.top(targets.linear_predictor(Xq), k=3, method="rif", verify=True)
    assert table["train"].tolist() == expected["train"].tolist()
    assert table["query"].tolist() == expected["query"].tolist()
    np.testing.assert_allclose(table["effect"], expected["effect"], rtol=1e-9)
    np.testing.assert_allclose(table["retrained"], expected["retrained"], rtol=1e-6)
    # Independent refit for one listed row.
    ref = Reference(X.to_numpy(), y, "logistic", l2=1.0)
    i = int(table["train"][0])
    q = np.r_[Xq.to_numpy()[0], 1.0]
    assert table["retrained"][0] == pytest.approx(q @ (ref.refit_without([i]) - ref.theta),
                                                  rel=1e-6)
    # The terminal table and the notes.
    assert "retrained" in stdout and "query 0" in stdout
    assert "'no' -> 0, 'yes' -> 1" in err and "one-hot 'city': city=Lima, city=Oslo" in err


def test_effect_of_a_group_by_ids_and_by_where(files, capsys):
    d, train, query = files
    base = ["effect", d / "train.csv", "--target", "spend", "--drop", "bought", "--id", "uid",
            "--query", d / "query.csv", "-q"]
    vendor_b = train.index[train["source"] == "vendor_b"]
    rc, out_where, err = _run(base + ["--where", 'source == "vendor_b"', "--out",
                                      d / "eff.csv"], capsys)
    assert rc == 0, err
    ids = ",".join(train["uid"][vendor_b])
    rc, out_ids, err = _run(base + ["--remove", ids], capsys)
    assert rc == 0, err
    assert out_ids == out_where
    table = pd.read_csv(d / "eff.csv")
    assert set(table["method"]) == {"if", "rif", "newton", "retrain"}
    # Squared loss: newton == retrain == the exact refit without the group.
    ref = Reference(_design(train), train["spend"].to_numpy(float), "squared", l2=1.0)
    exact = ref.refit_without(vendor_b) - ref.theta
    coef = table[table["quantity"] == "coefficients"]
    for method in ("newton", "retrain"):
        np.testing.assert_allclose(coef[coef["method"] == method]["effect"], exact, rtol=1e-6,
                                   atol=1e-9)
    preds = table[(table["quantity"] == "query predictions") & (table["method"] == "retrain")]
    Q = np.c_[_design(query), np.ones(len(query))]
    np.testing.assert_allclose(preds["effect"], Q @ exact, rtol=1e-6, atol=1e-9)
    assert "coefficients (model parameters)" in out_ids and "retrain" in out_ids


def test_effect_test_loss_section(files, capsys):
    d, train, query = files
    rc, out, err = _run(["effect", d / "train.csv", "--target", "bought", "--drop", "uid,spend",
                         "--remove", "0,1,2", "--test", d / "train.csv", "--no-retrain"],
                        capsys)
    assert rc == 0, err
    assert "total loss over the 55 TEST rows (log-loss, nats)" in out and "retrain" not in out


def test_report_is_one_self_contained_page(files, capsys):
    d, _, _ = files
    out = d / "report.html"
    rc, _, err = _run(["report", d / "train.csv", "--target", "bought", "--drop", "spend",
                       "--id", "uid", "--query", d / "query.csv", "--out", out, "--verify", 3,
                       "-q"], capsys)
    assert rc == 0, err
    html = out.read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") >= 6  # leverage, IF/RIF, 3 top-rows, verified
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert "when the training row is removed" in html and "log-odds" in html
    assert "query u055" in html


ATT = ["attribute", "{d}/train.csv", "--target", "bought", "--query", "{d}/query.csv"]


@pytest.mark.parametrize("args, excerpt", [
    (["attribute", "{d}/nope.csv", "--target", "bought", "--query", "{d}/query.csv"],
     "Invalid value for 'TRAIN': File '{d}/nope.csv' does not exist"),
    (["attribute", "{d}/train.csv", "--target", "nope", "--query", "{d}/query.csv"],
     "--target: TRAIN has no column 'nope'"),
    (ATT + ["--top", "0"], "Invalid value for '--top'"),
    (ATT + ["--l2", "-1"], "Invalid value for '--l2'"),
    (ATT + ["--bogus"], "No such option '--bogus'"),
    (["attribute", "{d}/train.csv", "--target", "city", "--query", "{d}/query.csv"],
     "target column 'city' is not numeric"),
    (["attribute", "{d}/train.csv", "--target", "bought", "--family", "squared",
      "--query", "{d}/query.csv"], "target column 'bought' is not numeric"),
    (ATT,
     "QUERY: column 'uid' has the value 'u055', which TRAIN does not have"),
    (ATT + ["--features", "age,bought"], "--features: 'bought' is the target or id column"),
    (ATT + ["--drop", ","], "--drop: expected comma-separated column names"),
    (["attribute", "{d}/missing.csv", "--target", "y", "--query", "{d}/missing.csv"],
     "TRAIN: column 'x' has 1 missing value(s) (first in data row 1)"),
    (["attribute", "{d}/binary.csv", "--target", "y", "--query", "{d}/query.csv"],
     "not a CSV or Parquet file"),
    (["attribute", "{d}/bad.parquet", "--target", "y", "--query", "{d}/query.csv"],
     "cannot read it as Parquet"),
    (["effect", "{d}/train.csv", "--target", "spend", "--drop", "bought,uid"],
     "give exactly one of --remove IDS or --where EXPR"),
    (["effect", "{d}/train.csv", "--target", "spend", "--drop", "bought,uid", "--remove", "99"],
     "--remove: no training row '99'"),
    (["effect", "{d}/train.csv", "--target", "spend", "--drop", "bought,uid",
      "--where", "age >"], "--where 'age >': cannot evaluate it"),
    (["effect", "{d}/train.csv", "--target", "spend", "--drop", "bought,uid",
      "--where", "age > 1000"], "selects no training row"),
    (["report", "{d}/train.csv", "--target", "spend"], "Missing option '--out'"),
    (["attribute", "{d}/dup.csv", "--target", "y", "--query", "{d}/dup.csv"],
     "duplicated column names ['x']"),
])
def test_user_mistakes_exit_2_with_one_line(files, capsys, args, excerpt):
    d, _, _ = files
    (d / "missing.csv").write_text("x,y\n1,2\n,3\n4,5\n")
    (d / "binary.csv").write_bytes(b"\x00\x01\x02garbage")
    (d / "dup.csv").write_text("x,x,y\n1,2,3\n4,5,6\n")
    (d / "bad.parquet").write_bytes(b"PAR1 this is not parquet PAR1")
    rc, out, err = _run([a.format(d=d) for a in args], capsys)
    assert rc == 2, err
    lines = err.strip().splitlines()  # notes (the family chosen, ...) may come first
    assert lines[-1].startswith("leaveout: error: ") and "Traceback" not in err, err
    assert sum(line.startswith("leaveout: error") for line in lines) == 1
    assert excerpt.format(d=d) in lines[-1]
    rc, _, err = _run([a.format(d=d) for a in args] + ["-q"], capsys)  # --quiet: one line
    assert rc == 2 and len(err.strip().splitlines()) == 1, err


def test_unknown_command(capsys):
    rc, _, err = _run(["nope"], capsys)
    assert rc == 2 and err.strip() == "leaveout: error: No such command 'nope'. (see leaveout --help)"


@pytest.mark.parametrize("command", ["attribute", "effect", "report", "demo", "bench"])
def test_help_everywhere(capsys, command):
    rc, out, _ = _run([command, "--help"], capsys)
    assert rc == 0 and "Usage: leaveout " + command in out and "--" in out


def test_outputs_are_written_atomically(files, capsys, monkeypatch):
    """A failure while writing leaves the previous file intact and no temporary file."""
    import leaveout._atomic as atomic

    d, _, _ = files
    out = d / "atomic.csv"
    out.write_text("previous")

    def fail(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", fail)
    rc, _, err = _run(["attribute", d / "train.csv", "--target", "spend", "--drop",
                       "bought,uid", "--query", d / "train.csv", "--out", out, "-q"], capsys)
    assert rc == 1 and "No space left on device" in err
    assert out.read_text() == "previous"
    assert not [p for p in d.iterdir() if p.name.startswith(".atomic.csv")]


def test_attribute_at_l2_zero_drops_a_baseline_level(files, capsys):
    """l2 = 0: one level per categorical is the baseline (a full coding next to the intercept is
    singular); the effects on linear predictors are those of any full-rank coding — here
    pandas.get_dummies(drop_first=True) and exact least-squares leave-one-out by NumPy."""
    d, train, query = files
    out = d / "l2zero.csv"
    rc, _, err = _run(["attribute", d / "train.csv", "--target", "spend", "--l2", "0",
                       "--drop", "bought", "--id", "uid", "--query", d / "query.csv",
                       "--top", 5, "--out", out], capsys)
    assert rc == 0, err
    assert "one-hot 'city': city=Oslo, city=Rome ('Lima' is the baseline, l2 = 0)" in err
    cols = ["age", "score", "city", "source"]
    X = pd.get_dummies(train[cols], drop_first=True, dtype=float).to_numpy()
    Xq = pd.get_dummies(query[cols], drop_first=True, dtype=float).to_numpy()
    ref = Reference(X, train["spend"].to_numpy(float), "squared", l2=0.0)
    E = ref.effects_rows("retrain") @ np.c_[Xq, np.ones(len(Xq))].T  # exact LOO
    table = pd.read_csv(out)
    for j, qid in enumerate(query["uid"]):
        rows = table[table["query"] == qid]
        order = np.argsort(-np.abs(E[:, j]), kind="stable")[:5]
        assert rows["train"].tolist() == train["uid"].iloc[order].tolist()
        np.testing.assert_allclose(rows["effect"], E[order, j], rtol=1e-6, atol=1e-10)
