"""Scenario: what a user states and what the project knows before anything runs.

The schema (every parameter with default, unit, range and provenance), values that change at
dates, reading and layering scenario files (``extends``, the fitted calibration), the levers a
sweep may vary, the UN and national targets, and where the project's data files live.

May import: nothing else of ``sim`` (the bottom layer).
"""
