"""Benchmarks that print figures and write them to ``bench/results/``; not tests.

Each is a module run from the checkout's root, e.g. ``.venv/bin/python -m bench.bridge_throughput``;
``make bench`` runs them all at a size that finishes in a few minutes. See ``docs/benchmarks.md``.
"""
