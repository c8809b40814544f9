"""Event tracing (ringpop-node's ``/trace/add`` and ``/trace/remove``).

A tracer forwards every occurrence of one node event (``membership.checksum.update``,
``ring.changed``) as JSON to a sink (a TChannel endpoint of another service, or the
log) until it expires or is removed. See :mod:`ringpop.trace.tracing`.
"""

from ringpop.trace.options import (
    CHECKSUM_EVENT,
    EVENTS,
    RING_EVENT,
    LogSink,
    TChannelSink,
    TraceOptionError,
    TraceRequest,
    parse_add,
    parse_remove,
)
from ringpop.trace.registry import TraceLimitError, Tracer, TracerRegistry
from ringpop.trace.tracing import Tracing

__all__ = [
    "CHECKSUM_EVENT",
    "EVENTS",
    "RING_EVENT",
    "LogSink",
    "TChannelSink",
    "TraceLimitError",
    "TraceOptionError",
    "TraceRequest",
    "Tracer",
    "TracerRegistry",
    "Tracing",
    "parse_add",
    "parse_remove",
]
