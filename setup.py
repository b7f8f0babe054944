"""The native scanner (processors/llmpulse/otlp/_scan.c) and dialect-table reader
(processors/llmpulse/normalise/_fields.c); everything else is in pyproject.toml.

``optional=True``: without a C compiler the build still succeeds and llmpulse.otlp.scan uses
its pure-Python twin (LLMPULSE_REQUIRE_NATIVE=1 turns that into an ImportError)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
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
)
