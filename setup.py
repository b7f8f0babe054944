"""The native parts of llmpulse; everything else is in pyproject.toml.

- The OTLP span scanner (processors/llmpulse/otlp/_scan.c) and the dialect-table reader
  (processors/llmpulse/normalise/_fields.c), hand-written C.
- The per-span path (the modules ``llmpulse._compiled.COMPILED`` lists) compiled with mypyc from
  the same typed Python: the source stays the one reference, and runs as it is when not built.

Every part is optional: without a C compiler (or mypyc) the build still succeeds and llmpulse
runs the Python (LLMPULSE_REQUIRE_NATIVE=1 turns a missing C extension into an ImportError).
``LLMPULSE_MYPYC=0`` builds without the mypyc part.
"""

import os
import runpy
import sys
import time

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

extensions = [
    Extension(
        "llmpulse.otlp._scan",
        ["processors/llmpulse/otlp/_scan.c"],
        extra_compile_args=["-Wall"],
        optional=True,
    ),
    Extension(
        "llmpulse.normalise._fields",
        ["processors/llmpulse/normalise/_fields.c"],
        extra_compile_args=["-Wall"],
        optional=True,
    ),
]


def compiled_with_mypyc() -> list[Extension]:
    if os.environ.get("LLMPULSE_MYPYC", "1") == "0":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("llmpulse: mypyc is not installed; the per-span path stays interpreted", file=sys.stderr)
        return []
    names = runpy.run_path("processors/llmpulse/_compiled.py")["COMPILED"]
    paths = ["processors/" + name.replace(".", "/") + ".py" for name in names]
    # mypyc type-checks the package before it emits C. Not with pyproject's strict [tool.mypy] (the
    # lint's, run where every dependency is installed): a build environment has none of them, and
    # strict mode refuses a class built on an unknown base. Third-party types are unknown in every
    # build, installed or not, so the C is the same wherever it is built.
    options = ["--config-file", os.devnull, "--ignore-missing-imports", "--no-site-packages"]
    built: list[Extension] = mypycify([*options, *paths], opt_level="3")
    for extension in built:
        extension.optional = True
    return built


class BuildExt(build_ext):
    """Stamps every built module with the build's time. ``llmpulse._compiled`` compares a module's
    file with its source's to tell a stale build; setuptools would keep an unchanged mypyc shim
    (the code is in the group's shared library) with the time of an earlier build."""

    def run(self) -> None:
        super().run()
        now = time.time()
        for extension in self.extensions:
            path = self.get_ext_fullpath(extension.name)
            if os.path.exists(path):
                os.utime(path, (now, now))


setup(ext_modules=extensions + compiled_with_mypyc(), cmdclass={"build_ext": BuildExt})
