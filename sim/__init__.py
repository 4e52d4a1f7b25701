"""wps-deploy-sim: forecasts of women's share among the personnel Denmark deploys abroad.

Data flows one way: a scenario file (``sim.scenario.schema``, read by ``sim.scenario.loading``)
drives the SimPy model (``sim.model.replication`` over ``sim.model.agencies``), replications are run
by ``sim.runs.replications``, written by ``sim.runs.outputs`` and turned into reports by
``sim.reports.forecast``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wps-deploy-sim")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"
