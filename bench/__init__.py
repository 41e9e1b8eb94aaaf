"""Benchmarks of ddbpipe against the limits of the local stand-in and against dynamodump.

``python -m bench.run`` (``make bench``) measures, side by side in one run, and writes
``docs/benchmarks.md``, charts under ``docs/img/`` and raw JSON under ``bench/results/``.
"""
