"""`python -m scheduler.pyrunner`: the stable name of the child interpreter of Python targets.

A job's own `python` interpreter runs this name; the code lives in `scheduler.running.pyrunner`.
"""

from __future__ import annotations

if __name__ == "__main__":
    import sys

    from scheduler.running.pyrunner import run_as_main

    sys.exit(run_as_main())
