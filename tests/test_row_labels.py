"""Rows named by label: a pandas Index / Series (or strings) in ``remove`` are labels of X's index.

Reference: an exact refit on ``X.drop(index=labels)`` (pandas drops by label, no leaveout row
code involved), and the same removal given as positions with ``by="position"``.
"""

import numpy as np
import pytest

import leaveout
from conftest import make_data

pd = pytest.importorskip("pandas")
# Sets of a fifth of the rows have large set leverage; the warning is tested elsewhere.
pytestmark = pytest.mark.filterwarnings("ignore::leaveout.SetLeverageWarning")


@pytest.fixture(scope="module")
def shuffled():
    """A DataFrame whose index is a shuffled range (as after train_test_split)."""
    X, y = make_data("logistic", n=80, p=3, seed=4)
    perm = np.random.default_rng(0).permutation(200)[:80]   # labels 0..199, not positions
    df = pd.DataFrame(X, columns=["a", "b", "c"], index=perm)
    ys = pd.Series(y, index=perm)
    att = leaveout.Attributor(leaveout.fit(df, ys, l2=1.0), df, ys)
    return att, df, ys


def _refit_without(df, ys, labels):
    keep = df.drop(index=labels)
    return leaveout.fit(keep, ys.drop(index=labels), l2=1.0).params_


def test_index_removes_the_labelled_rows_for_every_method(shuffled, tmp_path):
    att, df, ys = shuffled
    labels = df.index[df["a"] > 0.8]
    pos = np.flatnonzero(df["a"].to_numpy() > 0.8)
    assert not np.array_equal(np.sort(labels), pos)           # labels are not the positions
    exact = _refit_without(df, ys, labels) - att.params_
    np.testing.assert_allclose(att.effects("retrain", remove=labels), exact, rtol=1e-7,
                               atol=1e-10)
    np.testing.assert_allclose(att.effects("retrain", remove=labels, checkpoint=tmp_path),
                               exact, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(att.retrain(labels), exact + att.params_, rtol=1e-7)
    for m in ("if", "rif", "newton"):
        np.testing.assert_array_equal(att.effects(m, remove=labels),
                                      att.effects(m, remove=pos, by="position"))
        np.testing.assert_array_equal(att.effects(m, remove=list(labels), by="label"),
                                      att.effects(m, remove=pos, by="position"))
    assert att.set_leverage(labels) == att.set_leverage(pos, by="position")
    # A Series of labels, a list of Index objects, a boolean Series aligned by label.
    np.testing.assert_array_equal(att.effects("newton", remove=pd.Series(labels)),
                                  att.effects("newton", remove=pos, by="position"))
    both = att.effects("newton", remove=[labels, df.index[:3]])
    np.testing.assert_array_equal(both[1], att.effects("newton", remove=[0, 1, 2],
                                                       by="position"))
    mask = (df["a"] > 0.8).sample(frac=1.0, random_state=1)   # reordered: aligned by label
    np.testing.assert_array_equal(att.effects("newton", remove=mask), both[0])


def test_plain_integers_on_a_non_default_index_must_say_what_they_are(shuffled):
    att, df, ys = shuffled
    labels = list(df.index[df["a"] > 0.8])                    # the reported mix-up
    for call in (lambda: att.effects("newton", remove=labels),
                 lambda: att.effects("retrain", remove=[labels]),
                 lambda: att.retrain(labels),
                 lambda: att.set_leverage(np.array(labels))):
        with pytest.raises(ValueError, match="by='label' for index labels .* by='position'"):
            call()
    # Booleans masks and the empty set are unambiguous.
    mask = df["a"].to_numpy() > 0.8
    np.testing.assert_array_equal(att.effects("rif", remove=mask),
                                  att.effects("rif", remove=np.flatnonzero(mask),
                                              by="position"))
    assert np.all(att.effects("rif", remove=[]) == 0)


def test_string_ids_are_labels():
    X, y = make_data("squared", n=30, p=2, seed=5)
    ids = [f"user{i:03d}" for i in range(30)][::-1]
    df = pd.DataFrame(X, columns=["a", "b"], index=ids)
    att = leaveout.Attributor(leaveout.fit(df, y, family="squared"), df, y)
    drop = ["user007", "user020"]
    exact = leaveout.fit(df.drop(index=drop), np.delete(y, [ids.index(d) for d in drop]),
                         family="squared").params_ - att.params_
    # squared loss: newton is exact, so it must equal the refit on the dropped rows.
    np.testing.assert_allclose(att.effects("newton", remove=drop), exact, rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(att.effects("retrain", remove=[drop, ["user000"]])[0], exact,
                               rtol=1e-7, atol=1e-10)
    assert att.set_leverage(["user003"]) == pytest.approx(att.leverage[ids.index("user003")])
    with pytest.raises(ValueError, match=r"label\(s\) \['nobody'\] that are not in X's row"):
        att.effects("rif", remove=["user001", "nobody"])
    with pytest.raises(ValueError, match="repeats the label 'user001'"):
        att.effects("rif", remove=["user001", "user001"])
    with pytest.raises(TypeError, match="strings, which cannot be positions"):
        att.effects("rif", remove=["user001"], by="position")


def test_labels_without_an_index_and_other_mistakes():
    X, y = make_data("logistic", n=30, p=2, seed=6)
    att = leaveout.Attributor(leaveout.fit(X, y), X, y)       # NumPy X: no labels
    with pytest.raises(ValueError, match="X was not a pandas DataFrame"):
        att.effects("rif", remove=pd.Index([1, 2]))
    with pytest.raises(ValueError, match="X was not a pandas DataFrame"):
        att.effects("rif", remove=["a"])
    with pytest.raises(ValueError, match="by='label' needs row labels"):
        att.effects("rif", remove=[1], by="label")
    np.testing.assert_array_equal(att.effects("rif", remove=pd.Index([1, 2]), by="position"),
                                  att.effects("rif", remove=[1, 2]))
    with pytest.raises(ValueError, match="by must be None, 'position' or 'label'"):
        att.effects("rif", remove=[1], by="labels")
    # A default RangeIndex: labels and positions agree, plain integers need no by.
    df = pd.DataFrame(X)
    att2 = leaveout.Attributor(leaveout.fit(df, y), df, y)
    np.testing.assert_array_equal(att2.effects("rif", remove=[1, 2]),
                                  att.effects("rif", remove=[1, 2]))
    # Repeated index labels cannot name rows.
    dup = pd.DataFrame(X, index=[0] * 30)
    att3 = leaveout.Attributor(leaveout.fit(dup, y), dup, y)
    with pytest.raises(ValueError, match="repeats the label 0"):
        att3.effects("rif", remove=pd.Index([0]))
    np.testing.assert_array_equal(att3.effects("rif", remove=[1, 2], by="position"),
                                  att.effects("rif", remove=[1, 2]))
