"""Build of the one C extension, ``rig._lines`` (everything else is in pyproject.toml).

The extension is optional: where no C compiler is at hand the build goes on without it and
``rig.parse.unified_log`` scans with numpy instead (same results, about twice the CPU).
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("rig._lines", ["rig/_lines.c"], optional=True,
                             extra_compile_args=["-O2", "-std=c11"])])
