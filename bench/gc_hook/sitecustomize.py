"""Imported at start-up by every Python process with this directory on PYTHONPATH: when
GC_LOG names a file, log the garbage collector's pauses there (see bench/gclog.py)."""

import os
import sys

if os.environ.get("GC_LOG"):
    sys.path.append(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    from bench.gclog import install

    install(os.environ["GC_LOG"], float(os.environ.get("GC_LOG_MIN_MS", "1")))
