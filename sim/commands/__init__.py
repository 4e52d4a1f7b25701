"""Commands: the command line, one module per command (validate, run, compare, calibrate,
sweep, solve, schema), each importing the heavy layers only when it runs.

May import: every layer.
"""
