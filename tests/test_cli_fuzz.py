"""Fuzz: malformed CSV and Parquet files thrown at the command line.

Every outcome must be a result (exit 0) or a clean user error (exit 2, the last stderr line
"leaveout: error: ...", no traceback).  Deterministic (derandomize) and bounded: a fixed number
of small examples, a few seconds in all.
"""

import io
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("pandas")
pytest.importorskip("click")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from leaveout.cli import main  # noqa: E402

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

NUMBER = st.one_of(st.integers(0, 1).map(str),
                   st.floats(-1e3, 1e3, allow_nan=False).map(lambda f: f"{f:.3g}"))
ODD = st.sampled_from(["", "nan", "inf", "-inf", "NA", "a", "b", "yes", "no", '"', '"x,y"', " ",
                       "1e400", "1e-400", "True", "false", "\t", "é", "0x10", "--1"])
NAMES = st.sampled_from(["y", "x", "z", "id", "", "y", "c d", "é"])


@st.composite
def csv_text(draw):
    """Mostly well-formed tables (so that many examples fit) with malformed parts mixed in."""
    header = ["y"] + draw(st.lists(NAMES, min_size=0, max_size=3))
    n = draw(st.integers(0, 14))
    odd = draw(st.sampled_from([0.0, 0.0, 0.02, 0.1, 0.4]))  # how often a cell is odd
    ragged = draw(st.booleans()) and draw(st.booleans())

    def row():
        width = len(header) + (draw(st.integers(-1, 1)) if ragged else 0)
        return [draw(ODD) if draw(st.floats(0, 1)) < odd else draw(NUMBER)
                for _ in range(max(width, 0))]

    rows = [row() for _ in range(n)]
    sep = draw(st.sampled_from([",", ",", ",", ";"]))
    text = "\n".join([sep.join(header)] + [sep.join(r) for r in rows])
    return text + draw(st.sampled_from(["", "\n", "\r\n", '\n"unterminated']))


COMMON = [["--family", "logistic"], ["--family", "poisson"], ["--family", "squared"],
          ["--l2", "0"], ["--id", "id"], ["--drop", "z"], ["--features", "x"]]
ONLY = {"attribute": [["--verify"], ["--method", "newton"], ["--top", "2"]],
        "effect": [["--no-retrain"], ["--where", "y > 0"]],
        "report": [["--top", "2"], ["--verify", "2"]]}


def _options(draw, command):
    return sum(draw(st.lists(st.sampled_from(COMMON + ONLY[command]), max_size=3)), [])


def _check(args, capsys):
    rc = main(args + ["-q"])
    _, err = capsys.readouterr()
    assert rc in (0, 2), (rc, err)
    assert "Traceback" not in err
    if rc == 2:
        assert err.strip().splitlines()[-1].startswith("leaveout: error: "), err


@FUZZ
@given(text=csv_text(), opts=st.data())
def test_malformed_csv_is_a_result_or_a_clean_exit_2(text, opts, capsys):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "train.csv"
        path.write_text(text, encoding="utf-8")
        command = opts.draw(st.sampled_from(["attribute", "effect", "report"]))
        extra = _options(opts.draw, command)
        args = [command, str(path), "--target", "y"] + extra
        if command == "attribute":
            args += ["--query", str(path)]
        elif command == "effect" and "--where" not in extra:
            args += ["--remove", "0,1"]
        elif command == "report":
            args += ["--out", str(Path(d) / "r.html")]
        _check(args, capsys)


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_are_a_clean_exit_2_or_a_result(data, capsys):
    with tempfile.TemporaryDirectory() as d:
        for name in ("train.csv", "train.parquet", "train"):
            path = Path(d) / name
            path.write_bytes(data)
            _check(["attribute", str(path), "--target", "y", "--query", str(path)], capsys)


@FUZZ
@given(columns=st.lists(st.tuples(NAMES, st.sampled_from(["int", "float", "str", "bool",
                                                          "nan", "inf", "mixed"])),
                        min_size=1, max_size=4),
       n=st.integers(0, 10), cut=st.one_of(st.none(), st.integers(0, 2000)))
def test_parquet_files_of_any_column_types(columns, n, cut, capsys):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    import numpy as np

    rng = np.random.default_rng(n)
    make = {
        "int": lambda: rng.integers(0, 2, n),
        "float": lambda: rng.normal(size=n),
        "str": lambda: rng.choice(["a", "b", "c"], n),
        "bool": lambda: rng.random(n) > 0.5,
        "nan": lambda: np.where(rng.random(n) > 0.7, np.nan, rng.normal(size=n)),
        "inf": lambda: np.where(rng.random(n) > 0.7, np.inf, rng.normal(size=n)),
        "mixed": lambda: pd.Series(rng.choice(["1", "x"], n)).astype(object),
    }
    frame = pd.DataFrame({f"{name}{i}" if name != "y" or i == 0 else f"y{i}": make[kind]()
                          for i, (name, kind) in enumerate(columns)})
    buf = io.BytesIO()
    try:
        frame.to_parquet(buf)
    except Exception:  # noqa: BLE001 - a frame pyarrow cannot store: nothing to test
        return
    data = buf.getvalue() if cut is None else buf.getvalue()[:cut]
    target = frame.columns[0]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "train.parquet"
        path.write_bytes(data)
        _check(["attribute", str(path), "--target", target, "--query", str(path), "--top", "2"],
               capsys)
