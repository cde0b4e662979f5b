"""The HTML report opened in a real headless browser (Debian's `chromium`).

It must load without errors (a handler injected into a copy of the page records script errors
and resources that fail to load, and whether every image decoded; `--dump-dom` reads the
record back) and its figures must render (a screenshot that is not blank, and that differs from
the same page with its images removed). Skipped only when chromium is absent outside CI; in CI
(`CI` set) a missing chromium fails the test.
"""

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("click")
mpl_image = pytest.importorskip("matplotlib.image")

from leaveout.cli import main  # noqa: E402

CHROMIUM = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(b)), None)

_CHECK = """<script>
window.__errors = [];
window.onerror = function (msg) { window.__errors.push(String(msg)); };
window.addEventListener('error', function (e) {
  if (e.target && e.target.tagName) { window.__errors.push('failed to load: ' + e.target.tagName); }
}, true);
window.addEventListener('load', function () {
  var imgs = document.images, broken = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (!imgs[i].complete || imgs[i].naturalWidth === 0) { broken++; }
  }
  document.body.setAttribute('data-check', JSON.stringify(
    {errors: window.__errors, images: imgs.length, broken: broken}));
});
</script>"""


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed, and CI must open the report in a real "
                        "browser: apt-get install -y chromium")
        pytest.skip("chromium is not installed (apt-get install chromium); this test opens "
                    "the HTML report in a headless browser")
    return CHROMIUM


def _chromium(binary, tmp_path, *args):
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
           "--enable-logging=stderr", "--v=0", f"--user-data-dir={profile}",
           "--virtual-time-budget=10000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def _screenshot(binary, tmp_path, page, name):
    png = tmp_path / name
    _chromium(binary, tmp_path, f"--screenshot={png}", "--window-size=1000,4200",
              page.as_uri())
    assert png.exists(), f"chromium wrote no screenshot of {page.name}"
    return mpl_image.imread(png)[..., :3]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(4)
    n = 120
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n) * 3,
                       "group": rng.choice(["a", "b", "c"], n)})
    df["y"] = (df.x1 + df.x2 / 3 + (df.group == "b") + rng.normal(size=n) > 0.5).astype(int)
    df.to_csv(d / "train.csv", index=False)
    df.iloc[:4].drop(columns="y").to_csv(d / "query.csv", index=False)
    assert main(["report", str(d / "train.csv"), "--target", "y", "--query",
                 str(d / "query.csv"), "--out", str(d / "report.html"), "--verify", "4",
                 "-q"]) == 0
    return d / "report.html"


def test_report_loads_without_errors_and_every_image_decodes(browser, report, tmp_path):
    html = report.read_text(encoding="utf-8")
    n_images = html.count("<img ")
    assert n_images >= 6
    checked = tmp_path / "checked.html"
    checked.write_text(html.replace("<head>", "<head>" + _CHECK, 1), encoding="utf-8")
    res = _chromium(browser, tmp_path, "--dump-dom", checked.as_uri())
    m = re.search(r'data-check="([^"]*)"', res.stdout)
    assert m, f"the page did not finish loading: {res.stderr[-2000:]}"
    check = json.loads(m.group(1).replace("&quot;", '"'))
    assert check == {"errors": [], "images": n_images, "broken": 0}
    console = [line for line in res.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console


def test_report_figures_render(browser, report, tmp_path):
    shot = _screenshot(browser, tmp_path, report, "report.png")
    assert shot.std() > 0.05, "the screenshot is blank"
    assert (shot.min(axis=2) < 0.9).mean() > 0.02, "almost nothing is drawn"
    # The same page with its images removed: the figures account for much of what is drawn.
    bare = tmp_path / "bare.html"
    bare.write_text(re.sub(r"<img [^>]*>", "", report.read_text(encoding="utf-8")),
                    encoding="utf-8")
    blank = _screenshot(browser, tmp_path, bare, "bare.png")
    changed = (np.abs(shot - blank).max(axis=2) > 0.1).mean()
    assert changed > 0.03, f"the figures change only {changed:.1%} of the screenshot"
    # Colours only the figures have (the text is black on white): bars and points in colour.
    colourful = (shot.max(axis=2) - shot.min(axis=2) > 0.25).mean()
    assert colourful > 0.005, colourful


def test_the_check_sees_broken_images_and_script_errors(browser, tmp_path):
    """Negative control: the injected check does report what it looks for."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><head>" + _CHECK + "</head><body><p>x</p>"
                    '<img src="data:image/png;base64,AAAA"><script>undefinedName();</script>'
                    "</body></html>", encoding="utf-8")
    res = _chromium(browser, tmp_path, "--dump-dom", page.as_uri())
    check = json.loads(re.search(r'data-check="([^"]*)"', res.stdout).group(1)
                       .replace("&quot;", '"'))
    assert check["images"] == 1 and check["broken"] == 1
    assert any("undefinedName" in e for e in check["errors"])
