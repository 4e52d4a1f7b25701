"""Calibration: fitting the free parameters to the plan's 2017-2024 figures, with uncertainty.

The plan gives one or two figures per series, so the fit is small and the honest part is saying
what it does and does not pin down. The pieces, in the order a run uses them:

1. **Config** (``calibration/config.toml``): the free parameters, each with bounds, a start value,
   an optional Gaussian prior, and where it goes in a scenario (a plain key, or a ``$name``
   point inside a dated lever's template). Every mistake is an ``InputError`` naming the key.
2. **Figures** (``calibration/observed.csv``, rows with ``use = "calibrate"``): each is mapped to
   the model cell it is comparable with (same measure; an observed ``stock_start`` in year *y*
   is the model's end-of-year stock of *y - 1*). Incomparable measures are refused.
3. **Objective**: a weighted least-squares (Gaussian) misfit of the simulated mean share to each
   figure. Each figure's variance is the rounding of its stated precision (uniform, so
   ``precision**2 / 3``) plus the process noise of the group, i.e. the between-replication
   variance of the simulated share (this is the binomial noise of small groups such as DEMA's
   ~25 posted people, and more), plus the Monte Carlo error of the mean over ``R`` replications.
   Priors add ``((value - mean) / sd)**2``. The same replication indices (common random numbers)
   are used at every evaluation, so the simulated objective is smooth in the parameters.
4. **Fit**: agencies share no people and no random streams, so each agency's parameters are
   fitted to its own figures alone (``scipy.optimize.least_squares``, trust-region reflective, in
   coordinates scaled to each parameter's bounds), with finite-difference Jacobians evaluated in
   parallel. The weights are set from a pilot run at the start values and renewed once at the fit.
5. **Uncertainty**: a Laplace (Gauss-Newton) approximation of the posterior from the Jacobian at
   the fit; one-dimensional **profiles** of the data misfit (each grid value with the other
   parameters moved to their linearised conditional optimum under their priors, then simulated)
   show which parameters the data cannot pin down (flat profiles) and so rest on their prior.

Modules: :mod:`.config`, :mod:`.figures`, :mod:`.simulator`, :mod:`.objective`, :mod:`.posterior`
and :mod:`.fit` (:func:`~sim.analysis.calibration.fit.calibrate`); the report
(``sim.reports.calibration``) and the ``calibrate`` command build on them.
"""
