"""Runs: many replications, and where they run.

Backends (in-process, a local pool, Dask), replications collected into tables, sweeps (the
sweep file, its design, resumable running) and atomic output files. Nothing here interprets
results.

May import: ``sim.scenario``, ``sim.model``.
"""
