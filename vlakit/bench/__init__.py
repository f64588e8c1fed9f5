"""Benchmarks of vlakit's components (``vlakit bench ...``; each module also runs with ``python -m``)."""
