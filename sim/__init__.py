"""wps-deploy-sim: forecasts of women's share among the personnel Denmark deploys abroad.

Data flows one way: a scenario file (``sim.scenario.schema``, read by ``sim.scenario.loading``)
drives the SimPy model (``sim.model.replication`` over ``sim.model.agencies``), replications are run
by ``sim.runs.replications``, written by ``sim.runs.outputs`` and turned into reports by
``sim.reports.forecast``.
"""

#: The package's version, its one home: pyproject.toml reads it from here (``[tool.setuptools
#: .dynamic]``). Written out rather than read from the installed metadata, whose import
#: (importlib.metadata, the email parser) took ~90 ms of every command's start (issue #18).
__version__ = "0.1.0"
