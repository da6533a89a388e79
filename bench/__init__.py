"""Vigie's benchmarks, each one command, side by side with the reference tools.

Run them from the repository root (``make bench`` runs them all); ``docs/performance.md``
explains each one and holds the figures. Benchmarks only ever talk to 127.0.0.1.
"""
