"""``RingpopError``: the one base class of every error ringpop raises on purpose.

``except RingpopError`` catches all of them; each keeps its other, more specific
base too (``OptionsError`` is still a ``ValueError``, ``CallTimeoutError`` still a
``TimeoutError``), so existing ``except`` clauses keep working. The classes live in
the modules that raise them and are re-exported from the package root::

    from ringpop import RingpopError, BootstrapError, NotReadyError

This module sits at the bottom of the layers: it imports nothing.
"""

from __future__ import annotations

__all__ = ["RingpopError"]


class RingpopError(Exception):
    """Base class of ringpop's errors (options, bootstrap, transport, forwarding, ...)."""
