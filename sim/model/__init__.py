"""Model: one replication of the three agencies' personnel pipelines, in SimPy.

The roster of people, careers (attrition and promotion as competing risks), the draft,
deployment by destination, the agencies' pipelines, the census that turns months into yearly
series, and the series catalogue. :func:`sim.model.replication.simulate` is the entry point.

May import: ``sim.scenario``.
"""
