"""Reports: self-contained HTML pages built from analysed results, one module per report
(forecast for ``run``, compare, sweep, calibration) over shared style, charts, flows and
provenance.

May import: everything below it (scenario, model, runs, analysis); computes nothing new.
"""
