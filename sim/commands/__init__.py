"""One module per command of ``run_scenario.py``; each defines ``register(subparsers)``."""
