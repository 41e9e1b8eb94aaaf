"""Benchmarks of ddbpipe against the limits of the local stand-in and against dynamodump.

``python -m bench.run`` (``make bench``) measures, side by side in one run, into a results file
under ``bench/results/`` (``bench.results``); ``python -m bench.summarize`` renders
``docs/benchmarks.md`` and the charts under ``docs/img/`` from results files alone.
"""
