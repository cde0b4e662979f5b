"""A long retraining sweep survives SIGKILL: finished refits are checkpointed atomically."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import leaveout
from conftest import make_data

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, sys.argv[3])
    import leaveout
    from conftest import make_data
    X, y = make_data("logistic", n=int(sys.argv[2]), p=60, seed=11)
    att = leaveout.Attributor(leaveout.fit(X, y, l2=1.0), X, y)
    np.save(sys.argv[4], att.effects("retrain", checkpoint=sys.argv[1]))
""")


def _files(d):
    return list(d.rglob("*.npy")) if d.exists() else []


def test_sigkill_mid_sweep_then_rerun_loses_nothing(tmp_path):
    ckpt = tmp_path / "ckpt"
    script = tmp_path / "sweep.py"
    script.write_text(SCRIPT)
    tests_dir = os.path.dirname(__file__)
    n = 600
    proc = subprocess.Popen([sys.executable, str(script), str(ckpt), str(n), tests_dir,
                             str(tmp_path / "a.npy")])
    deadline = time.time() + 120
    while time.time() < deadline and len(_files(ckpt)) < 30:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(_files(ckpt))
    assert 30 <= done < n, f"the kill should land mid-sweep ({done} of {n} done)"
    assert not (tmp_path / "a.npy").exists()
    # Rerun to completion: it reuses the finished refits.
    subprocess.run([sys.executable, str(script), str(ckpt), str(n), tests_dir,
                    str(tmp_path / "a.npy")], check=True)
    assert len(_files(ckpt)) == n and not list(ckpt.rglob("*.tmp"))
    resumed = np.load(tmp_path / "a.npy")
    # Reference: the same sweep without a checkpoint, in this process.
    X, y = make_data("logistic", n=n, p=60, seed=11)
    att = leaveout.Attributor(leaveout.fit(X, y, l2=1.0), X, y)
    np.testing.assert_array_equal(resumed, att.effects("retrain"))


def test_checkpoint_is_reused_only_for_the_same_problem(tmp_path):
    X, y = make_data("logistic", n=80, p=5, seed=1)
    att = leaveout.Attributor(leaveout.fit(X, y, l2=1.0), X, y)
    sets = [[1, 2], [3], [4, 5, 6]]
    first = att.effects("retrain", remove=sets, checkpoint=tmp_path)
    assert len(_files(tmp_path)) == 3
    # The same sets in another order and as a target: read back, bit-identical.
    again = att.effects("retrain", remove=sets[::-1], checkpoint=tmp_path)
    np.testing.assert_array_equal(again, first[::-1])
    # Other data (one label flipped): a separate fingerprint, nothing reused.
    y2 = y.copy()
    y2[0] = 1 - y2[0]
    att2 = leaveout.Attributor(leaveout.fit(X, y2, l2=1.0), X, y2)
    att2.effects("retrain", remove=sets, checkpoint=tmp_path)
    assert len(_files(tmp_path)) == 6
    with pytest.raises(ValueError, match="method='retrain' only"):
        att.effects("rif", checkpoint=tmp_path)
