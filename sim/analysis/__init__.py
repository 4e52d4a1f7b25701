"""Analysis: what the runs say.

Summaries, whether targets are met (one rule, :mod:`sim.analysis.attainment`), intervals,
Monte Carlo precision, paired comparisons, sensitivity indices, goal-seeking (``solve``), the
calibration, and the closed-form manpower model that cross-checks the simulation.

May import: ``sim.scenario``, ``sim.model``, ``sim.runs``.
"""
