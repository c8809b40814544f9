"""Build hook for the one optional native part, ``ringpop._native`` (batch FarmHash and
blob page checks).

Everything else is in pyproject.toml. The extension links the system's farmhash
library (Debian: ``apt-get install libfarmhash-dev``); where it is missing the build
skips it with a warning and ``ringpop.hashing`` hashes one key per call instead.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "ringpop._native",
            ["src/ringpop/_native.cpp"],
            libraries=["farmhash"],
            language="c++",
            extra_compile_args=["-O2", "-std=c++11"],
            optional=True,  # no libfarmhash: a warning, and the pure-Python path
        )
    ],
)
