"""Command-line interface ``leaveout``: thin — parse, call the public API, print.

Built on click (the optional extra ``leaveout[cli]``; ``leaveout[demo]`` brings it too), which is
imported only when the command runs.  The commands live in :mod:`leaveout._cli_app` (``demo``,
``bench``) and :mod:`leaveout._cli_data` (``attribute``, ``effect``, ``report``).

Exit status: 0 on success; 2 for a user mistake (a missing file or column, a bad value, an
unknown option, a file that is not CSV or Parquet), with a one-line message and no traceback;
1 when an output cannot be written; 130 when interrupted.
"""

from __future__ import annotations

import sys


def main(argv=None) -> int:
    """Run ``leaveout`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    try:
        import click  # noqa: F401
    except ImportError:
        print('leaveout: error: the command line needs click: pip install "leaveout[cli]"',
              file=sys.stderr)
        return 2
    from ._cli_app import run

    return run(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
