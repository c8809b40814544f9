"""ringpop for Python: SWIM membership, a consistent hash ring and request forwarding.

Wire-compatible with ringpop-node and ringpop-go (TChannel v2, same endpoints,
same hashes and checksums)::

    from ringpop import Ringpop, Options

The names below are imported on first use, so ``import ringpop.ring`` (say) does
not load the transport.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ringpop._version import __version__

__all__ = [
    "BootstrapError",
    "HttpRequest",
    "HttpResponse",
    "NotReadyError",
    "Options",
    "Ringpop",
    "__version__",
]

if TYPE_CHECKING:
    from ringpop.forward import HttpRequest, HttpResponse
    from ringpop.options import Options
    from ringpop.ringpop import BootstrapError, NotReadyError, Ringpop

_LAZY = {
    "Ringpop": "ringpop.ringpop",
    "BootstrapError": "ringpop.ringpop",
    "NotReadyError": "ringpop.ringpop",
    "Options": "ringpop.options",
    "HttpRequest": "ringpop.forward",
    "HttpResponse": "ringpop.forward",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ringpop' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
