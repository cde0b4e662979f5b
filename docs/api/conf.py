"""Sphinx configuration of the API reference (built offline from the docstrings)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

project = "leaveout"
author = "the leaveout developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False}
html_theme = "alabaster"
exclude_patterns = ["_build"]
intersphinx_mapping = {}  # no network
suppress_warnings = ["ref.python"]  # "of shape (n,)" in parameter types is not a reference
