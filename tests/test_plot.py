"""leaveout.plot: each function returns a Figure that draws what it says (checked on its artists)."""

import io

import numpy as np
import pytest

import leaveout
from leaveout import targets
from conftest import make_data

pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402

from leaveout import plot  # noqa: E402


@pytest.fixture(scope="module")
def att_data():
    X, y = make_data("logistic", n=80, p=5, seed=2)
    return leaveout.Attributor(leaveout.fit(X, y, l2=1.0), X, y), X, y


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_leverage_histogram_counts_every_row(att_data):
    att, _, _ = att_data
    fig = plot.leverage(att)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert sum(p.get_height() for p in ax.patches) == att.n_samples
    assert _png(fig)[:4] == b"\x89PNG"


def test_if_vs_rif_points_are_the_effects(att_data):
    att, X, _ = att_data
    t = targets.linear_predictor(X[:3])
    fig = plot.if_vs_rif(att, t, query=2)
    pts = fig.axes[0].collections[0].get_offsets()
    np.testing.assert_allclose(pts[:, 0], att.effects("if", target=t)[:, 2])
    np.testing.assert_allclose(pts[:, 1], att.effects("rif", target=t)[:, 2])
    fig = plot.if_vs_rif(att)  # parameter-change norms
    pts = fig.axes[0].collections[0].get_offsets()
    np.testing.assert_allclose(pts[:, 1], np.linalg.norm(att.effects("rif"), axis=1))
    with pytest.raises(ValueError, match="query must be a position in 0..2"):
        plot.if_vs_rif(att, t, query=3)


def test_top_rows_bars_are_the_top_effects(att_data):
    att, X, _ = att_data
    t = targets.prediction(X[:2])
    fig = plot.top_rows(att, t, query=1, k=6)
    heights = [p.get_width() for p in fig.axes[0].patches]
    table = att.top(t, k=6)
    np.testing.assert_allclose(heights, table[table["query"] == 1]["effect"])
    assert _png(fig)


def test_predicted_vs_actual_plots_retrained_changes(att_data):
    att, X, y = att_data
    t = targets.loss(X[:10], y[:10], reduce="sum")
    sets = [[0], [1, 2], [3, 4, 5]]
    fig = plot.predicted_vs_actual(att, t, sets, methods=("if", "newton"))
    ax = fig.axes[0]
    assert len(ax.collections) == 2
    actual = att.effects("retrain", remove=sets, target=t)
    np.testing.assert_allclose(ax.collections[1].get_offsets()[:, 0], actual)
    np.testing.assert_allclose(ax.collections[1].get_offsets()[:, 1],
                               att.effects("newton", remove=sets, target=t))
    fig = plot.predicted_vs_actual(att, targets.linear_predictor(X[:2]), query=1)
    assert len(fig.axes[0].collections[0].get_offsets()) == 8


def test_draws_on_given_axes(att_data):
    att, _, _ = att_data
    fig = Figure()
    ax = fig.add_subplot()
    assert plot.leverage(att, ax=ax) is fig
