"""The build's one step beyond pyproject.toml: the kernels compiled ahead of time into an
extension module (sim/model/ahead_of_time.py says why and how; without numba or a C
compiler the install goes on without it)."""

import sys
import warnings
from pathlib import Path

from setuptools import setup

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sim.model.ahead_of_time import setup_arguments  # noqa: E402

# pip shows what a build prints (with -v), not the warnings raised while setup.py runs.
with warnings.catch_warnings(record=True) as said:
    warnings.simplefilter("always")
    arguments = setup_arguments()
for warning in said:
    print(f"warning: {warning.message}", file=sys.stderr)
setup(**arguments)
