"""The optional native part of ringpop: ``ringpop._native`` (C++, ``setup.py``).

It runs the loops over a whole handoff page that would otherwise take a Python-level
step per record: batch FarmHash Fingerprint32 (a binding of the system's farmhash
library: Debian's ``libfarmhash-dev``), the blob page's offset and order checks, the
greatest version, and joining keys and values into blobs. The build skips it where
libfarmhash is missing; every caller then runs its pure-Python path, which gives the
same answers (the tests run both). ``BUILT`` tells which one this process runs.

Callers read ``speedups.native`` at call time, so tests can force the fallback.
"""

from __future__ import annotations

try:
    from ringpop import _native as native
except ImportError:  # pragma: no cover - the build skipped it (no libfarmhash)
    native = None  # type: ignore[assignment]

__all__ = ["BUILT", "native"]

BUILT = native is not None
"""Whether ``ringpop._native`` was built and loaded."""
