"""wps-deploy-sim: forecasts of women's share among the personnel Denmark deploys abroad.

Data flows one way: a scenario file (``sim.scenario``, read by ``sim.loading``) drives the
SimPy model (``sim.model`` over ``sim.agencies``), replications are run by ``sim.runner``,
written by ``sim.outputs`` and turned into reports by ``sim.report``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wps-deploy-sim")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"
