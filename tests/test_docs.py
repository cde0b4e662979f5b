"""The docs run: the README quick start and every Python block of docs/guide.md execute as
written (from the repository root), their CLI examples exit 0, and the API reference builds
offline with Sphinx from the docstrings."""

import os
import re
import shlex
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("pandas")
pytest.importorskip("sklearn")
pytest.importorskip("click")
pytest.importorskip("matplotlib")


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def _quick_start(text: str) -> str:
    return text.split("## Quick start", 1)[1].split("\n## ", 1)[0]


def _run_python(blocks, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    namespace = {"__name__": "__docs__"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the examples must not warn unless they say so
        for code in blocks:
            # Files the examples write go to tmp_path.
            code = code.replace('savefig("', f'savefig("{tmp_path}/')
            exec(compile(code, "<docs>", "exec"), namespace)  # noqa: S102
    return namespace


def _run_cli(blocks, tmp_path, monkeypatch, capsys):
    from leaveout.cli import main

    monkeypatch.chdir(tmp_path)
    commands = [shlex.split(b.replace("\\\n", " ")) for b in blocks]
    commands = [[a.replace("examples/", f"{ROOT}/examples/") for a in c] for c in commands
                if c and c[0] == "leaveout"]
    assert commands
    for c in commands:
        assert main(c[1:]) == 0, (c, capsys.readouterr().err)
    return capsys.readouterr().out


def test_readme_quick_start_runs(tmp_path, monkeypatch, capsys):
    text = _quick_start((ROOT / "README.md").read_text(encoding="utf-8"))
    ns = _run_python(_blocks(text, "python"), tmp_path, monkeypatch)
    assert ns["att"].n_samples == 455
    out = _run_cli(_blocks(text, "bash"), tmp_path, monkeypatch, capsys)
    assert "query p175" in out and "retrained" in out


def test_guide_examples_run_and_their_numbers_are_the_ones_quoted(tmp_path, monkeypatch, capsys):
    text = (ROOT / "docs" / "guide.md").read_text(encoding="utf-8")
    ns = _run_python(_blocks(text, "python"), tmp_path, monkeypatch)
    out = capsys.readouterr().out
    # The numbers the guide quotes (measured by these blocks).
    assert "27 of the 34 highest self-influence rows were flipped" in out
    assert "retrain -13.43" in out and "test loss now 23.36" in out
    assert "if -6.48" in out and "rif -6.6" in out and "newton -8.45" in out
    assert "newton, 20 steps -13.43" in out
    top = ns["table"]
    first = top[top["query"] == "p175"].iloc[0]
    assert first["train"] == "p391" and round(first["effect"], 3) == -0.324
    assert round(first["retrained"], 3) == -0.370
    assert (tmp_path / "verified.png").exists()
    _run_cli(_blocks(text, "bash"), tmp_path, monkeypatch, capsys)


def test_api_reference_builds_offline(tmp_path):
    sphinx = pytest.importorskip("sphinx.cmd.build")
    out = tmp_path / "html"
    env = dict(os.environ)
    assert sphinx.build_main(["-b", "html", "-q", str(ROOT / "docs" / "api"), str(out)]) == 0, env
    page = (out / "index.html").read_text(encoding="utf-8")
    for name in ("Attributor.top", "Attributor.effects", "leaveout.plot.leverage",
                 "leaveout.report.html_report", "linear_predictor"):
        assert name in page, name
