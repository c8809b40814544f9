"""ringpop for Python: SWIM membership, a consistent hash ring and request forwarding.

Wire-compatible with ringpop-node and ringpop-go (TChannel v2, same endpoints,
same hashes and checksums)::

    from ringpop import Ringpop, Options

Where the names live (every one below is importable from here too):

* the node: :class:`Ringpop`, its :class:`Options`, per-call forwarding options
  (:class:`ForwardOptions`), the HTTP request/response of
  forwarding (:class:`HttpRequest`, :class:`HttpResponse`), the :class:`Transport`
  it runs over;
* errors: :class:`RingpopError` is the base of every error ringpop raises on purpose;
  the ones applications meet most are here (the rest are in the module raising them
  and all derive from it);
* events: every event of :mod:`ringpop.events` (``rp.events.on(RingChanged, ...)``);
* discovery: :mod:`ringpop.discovery` (static lists, hosts files, DNS);
* web frameworks: :mod:`ringpop.integrations` (``.asgi``, ``.aiohttp``,
  ``.lifecycle``), imported on their own since each loads its framework;
* stats back ends: :mod:`ringpop.stats`;
* tests and simulation: ``ringpop.testing`` (never imported by the library).

The names below are imported on first use, so ``import ringpop.ring`` (say) does
not load the transport.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ringpop._version import __version__

_EVENTS = (
    "BootstrapStalled",
    "ChecksumComputed",
    "ChecksumsDiffer",
    "Event",
    "EventEmitter",
    "IslandAvoided",
    "LookupTiming",
    "MemberUpdate",
    "MembersEvicted",
    "MembershipChanged",
    "OwnershipChanged",
    "ProxyOverloaded",
    "ProxyServed",
    "Ready",
    "RequestProxied",
    "RetryAborted",
    "RetryAttempted",
    "RetryFailed",
    "RetryRerouted",
    "RetryScheduled",
    "RetrySucceeded",
    "RingChanged",
    "ServerAdded",
    "ServerRemoved",
    "Subscription",
)

_LAZY = {
    "Ringpop": "ringpop.ringpop",
    "NotReadyError": "ringpop.ringpop",
    "BootstrapError": "ringpop.membership.join",
    "Options": "ringpop.options",
    "OptionsError": "ringpop.options",
    "HttpRequest": "ringpop.forward",
    "HttpResponse": "ringpop.forward",
    "ForwardOptions": "ringpop.forward",
    "ForwardError": "ringpop.forward.tchannel",
    "RingpopError": "ringpop.errors",
    "LabelError": "ringpop.membership.labels",
    "DiscoveryError": "ringpop.discovery",
    "TChannelError": "ringpop.tchannel.errors",
    "TLSError": "ringpop.tlsconfig",
    "Transport": "ringpop.transport",
    **dict.fromkeys(_EVENTS, "ringpop.events"),
}

__all__ = [
    "BootstrapError",
    "BootstrapStalled",
    "ChecksumComputed",
    "ChecksumsDiffer",
    "DiscoveryError",
    "Event",
    "EventEmitter",
    "ForwardError",
    "ForwardOptions",
    "HttpRequest",
    "HttpResponse",
    "IslandAvoided",
    "LabelError",
    "LookupTiming",
    "MemberUpdate",
    "MembersEvicted",
    "MembershipChanged",
    "NotReadyError",
    "Options",
    "OptionsError",
    "OwnershipChanged",
    "ProxyOverloaded",
    "ProxyServed",
    "Ready",
    "RequestProxied",
    "RetryAborted",
    "RetryAttempted",
    "RetryFailed",
    "RetryRerouted",
    "RetryScheduled",
    "RetrySucceeded",
    "RingChanged",
    "Ringpop",
    "RingpopError",
    "ServerAdded",
    "ServerRemoved",
    "Subscription",
    "TChannelError",
    "TLSError",
    "Transport",
    "__version__",
]

if TYPE_CHECKING:
    from ringpop.discovery import DiscoveryError
    from ringpop.errors import RingpopError
    from ringpop.events import (
        BootstrapStalled,
        ChecksumComputed,
        ChecksumsDiffer,
        Event,
        EventEmitter,
        IslandAvoided,
        LookupTiming,
        MembersEvicted,
        MembershipChanged,
        MemberUpdate,
        OwnershipChanged,
        ProxyOverloaded,
        ProxyServed,
        Ready,
        RequestProxied,
        RetryAborted,
        RetryAttempted,
        RetryFailed,
        RetryRerouted,
        RetryScheduled,
        RetrySucceeded,
        RingChanged,
        ServerAdded,
        ServerRemoved,
        Subscription,
    )
    from ringpop.forward import ForwardOptions, HttpRequest, HttpResponse
    from ringpop.forward.tchannel import ForwardError
    from ringpop.membership.join import BootstrapError
    from ringpop.membership.labels import LabelError
    from ringpop.options import Options, OptionsError
    from ringpop.ringpop import NotReadyError, Ringpop
    from ringpop.tchannel.errors import TChannelError
    from ringpop.tlsconfig import TLSError
    from ringpop.transport import Transport


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ringpop' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
