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
    deadline = time.time() + 300  # generous: CI machines are shared and may be loaded
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


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_leftovers_of_a_killed_writer_are_swept_and_live_ones_kept(tmp_path):
    from leaveout._atomic import _HOST, atomic_write_bytes, remove_orphans

    dead, live = _dead_pid(), os.getppid()
    orphan = tmp_path / f".a.npy.{_HOST}~{dead}~x1.tmp"
    in_flight = tmp_path / f".b.npy.{_HOST}~{live}~x2.tmp"
    other_host = tmp_path / f".c.npy.elsewhere~{dead}~x3.tmp"
    nested = tmp_path / "sub" / f".d.npy.{_HOST}~{dead}~x4.tmp"
    nested.parent.mkdir()
    for f in (orphan, in_flight, other_host, nested):
        f.write_bytes(b"half")
    assert remove_orphans(tmp_path, recursive=False) == 1
    assert not orphan.exists() and in_flight.exists() and other_host.exists() and nested.exists()
    assert remove_orphans(tmp_path) == 1 and not nested.exists()
    # The writer's own temporary files carry the tag that remove_orphans parses.
    atomic_write_bytes(tmp_path / "e.bin", b"ok")
    assert (tmp_path / "e.bin").read_bytes() == b"ok"
    assert not list(tmp_path.glob(".e.bin*"))


def test_opening_a_checkpoint_sweeps_a_killed_writers_half_file(tmp_path):
    from leaveout._atomic import _HOST

    X, y = make_data("logistic", n=60, p=4, seed=2)
    att = leaveout.Attributor(leaveout.fit(X, y, l2=1.0), X, y)
    first = att.effects("retrain", remove=[[1], [2]], checkpoint=tmp_path)
    (store_dir,) = [d for d in tmp_path.iterdir() if d.is_dir()]
    half = store_dir / f".deadbeef.npy.{_HOST}~{_dead_pid()}~zz.tmp"
    half.write_bytes(b"\x93NUMPY half")
    again = att.effects("retrain", remove=[[1], [2]], checkpoint=tmp_path)
    np.testing.assert_array_equal(again, first)
    assert not half.exists()
