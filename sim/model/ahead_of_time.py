"""The kernels built ahead of time, at install, into the extension ``sim.model._kernels_aot``.

Why: a process that compiles nothing still paid ~0.8 s to use numba's cached kernels (numba's
import, its registries, loading the machine code), half of ``run --replications 1`` (issue
#18). numba's ahead-of-time compiler (``numba.pycc``) writes the same kernels, with the types
of ``kernels.SIGNATURES``, into an ordinary extension module that needs neither numba nor a
compiler at run time and loads in a millisecond.

``setup.py`` asks :func:`setup_arguments` for the module and the command that builds it. The
build is best effort: without numba, a C compiler or numba's ``pycc`` (pending deprecation
in numba), the install goes on without it, and the kernels are compiled by numba on first use
as before (``kernels.load``), giving the same numbers. The module records the digest of the
``kernels.py`` it was built from, so an edited kernel is never run from a stale build:
``pip install -e .`` again rebuilds it.

The generated code is numba's, for the generic CPU of the platform (no host-specific
instructions, so a wheel runs on any x86-64), with the same floating-point operations in the
same order as numba's own compilation: ``tests/test_kernels.py`` holds the two to identical
tallies.
"""

from __future__ import annotations

import warnings
from typing import Any

MODULE = "_kernels_aot"


def compiler() -> Any:
    """numba's ahead-of-time compiler with every kernel of ``kernels.SIGNATURES`` and the
    source digest exported (the kernels are typed here; the machine code is made by
    ``setup.py``'s build or :func:`build`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # pycc's pending deprecation, said above
        from numba.pycc import CC

    from sim.model import kernels

    kernels._compile(cache=False)   # the kernels call each other's numba versions
    cc = CC(MODULE, kernels)
    for name, signature in kernels.SIGNATURES.items():
        cc.export(name, signature)(getattr(kernels, name).py_func)
    cc.export("source_digest", "i8()")(_constant(kernels.source_digest()))
    return cc


def _constant(value: int):
    """A function returning ``value`` (numba freezes the closure's value into the code)."""
    def source_digest():
        return value
    return source_digest


def setup_arguments() -> dict[str, Any]:
    """``ext_modules`` and ``cmdclass`` for ``setup.py``: the kernels' module, built by numba's
    ``build_ext`` (which ``distutils_extension`` installs: it writes the kernels' object file
    before the C runtime they need is compiled and linked), and left out with a warning
    wherever numba, its ahead-of-time compiler or a C compiler is missing or fails: the
    install then runs the kernels compiled on first use, which give the same numbers."""
    try:
        extension = compiler().distutils_extension()
    except Exception as err:     # noqa: BLE001 - any failure means: no ahead-of-time build
        warnings.warn(f"the kernels will not be built ahead of time ({err}); runs compile them "
                      "with numba on first use instead", RuntimeWarning, stacklevel=2)
        return {}
    from setuptools.command import build_ext   # numba's, once distutils_extension has run

    class BuildKernels(build_ext.build_ext):
        def build_extension(self, ext) -> None:
            try:
                super().build_extension(ext)
            except Exception as err:     # noqa: BLE001 - see setup_arguments
                if ext is not extension:
                    raise
                self.extensions.remove(ext)    # nothing to copy in place or to package
                self.warn(f"the kernels were not built ahead of time ({err}); runs will "
                          "compile them with numba on first use instead")

    return {"ext_modules": [extension], "cmdclass": {"build_ext": BuildKernels}}


def build(folder: str) -> str:
    """Build the module into ``folder`` and return its file: ``build("sim/model")`` rebuilds
    it in a checkout after ``kernels.py`` was edited, without reinstalling (~50 s)."""
    import os

    cc = compiler()
    cc.output_dir = folder
    cc.compile()
    return os.path.join(folder, cc.output_file)
