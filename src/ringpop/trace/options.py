"""The bodies of ``/trace/add`` and ``/trace/remove``, read the way ringpop-node reads them.

ringpop-node 10.21.0 (``server/trace.js``, ``lib/trace/{core,log,tchannel}.js``) takes a
JSON object whose keys may be camelCase, kebab-case or snake_case (``expires-in``,
``host_port``: every key is converted to camelCase, recursively)::

    {"event": "membership.checksum.update",
     "expiresIn": 60000,                        # ms; or "expiresAt": epoch ms
     "sink": {"type": "tchannel", "hostPort": "127.0.0.1:4000",
              "serviceName": "ringpop",         # default
              "endpoint": "/trace/membership.checksum.update"}}   # default: /trace/<event>

    {"event": "membership.checksum.update", "expiresIn": 60000,
     "sink": {"type": "log", "level": "info", "message": "/trace/membership.checksum.update"}}

Invalid options are answered with node's error type ``ringpop.invalid-option`` and its
message form ``` `option` option is invalid because reason```. Unlike node (which
rejects them), a missing expiry and a missing sink take node's own declared defaults
(60 s, the log sink), per the receiving rules (spec §1.1).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from ringpop.errors import RingpopError
from ringpop.tchannel.hostport import validate_host_port

__all__ = [
    "CHECKSUM_EVENT",
    "DEFAULT_EXPIRES_IN_MS",
    "EVENTS",
    "LOG_LEVELS",
    "MAX_EXPIRES_IN_MS",
    "RING_EVENT",
    "LogSink",
    "SinkSpec",
    "TChannelSink",
    "TraceOptionError",
    "TraceRequest",
    "camel_keys",
    "parse_add",
    "parse_remove",
]

CHECKSUM_EVENT = "membership.checksum.update"
"""The membership checksum changed (ringpop-node's only traceable event)."""
RING_EVENT = "ring.changed"
"""Servers entered or left the ring (ours; ringpop-node answers ``it is unknown``)."""
EVENTS = (CHECKSUM_EVENT, RING_EVENT)

LOG_LEVELS = ("error", "warn", "info", "debug", "trace")
DEFAULT_EXPIRES_IN_MS = 60_000  # node's tracerOptsDefaults.expiresIn
MAX_EXPIRES_IN_MS = 24 * 3600 * 1000  # longer expiries are shortened to a day
DEFAULT_SINK_TIMEOUT_MS = 1000  # node's reqOpts.timeout
MAX_SINK_TIMEOUT_MS = 10_000

_LISP_OR_SNAKE = re.compile(r"[_-]([a-z])")


class TraceOptionError(RingpopError):
    """An unusable option: node's ``ringpop.invalid-option`` error."""

    type = "ringpop.invalid-option"

    def __init__(self, option: str, reason: str) -> None:
        self.option = option
        self.reason = reason
        self.message = f"`{option}` option is invalid because {reason}"
        super().__init__(self.message)


class LogSink(msgspec.Struct, frozen=True):
    """Trace events to this node's log (``logging`` logger ``ringpop.trace``)."""

    level: str
    message: str

    @property
    def key(self) -> tuple[str, ...]:
        """What identifies the tracer with its event (node: type and message)."""
        return ("log", self.message)

    def describe(self) -> str:
        """A short human description."""
        return f"log {self.level} {self.message!r}"


class TChannelSink(msgspec.Struct, frozen=True):
    """Trace events to ``endpoint`` of ``service`` at ``host_port`` (raw, arg3 = JSON)."""

    host_port: str
    service: str
    endpoint: str
    timeout_ms: int = DEFAULT_SINK_TIMEOUT_MS

    @property
    def key(self) -> tuple[str, ...]:
        """What identifies the tracer with its event (node: type, hostPort, endpoint)."""
        return ("tchannel", self.host_port, self.endpoint)

    def describe(self) -> str:
        """A short human description."""
        return f"tchannel {self.host_port} {self.service} {self.endpoint}"


SinkSpec = LogSink | TChannelSink


class TraceRequest(msgspec.Struct, frozen=True):
    """A parsed ``/trace/add`` or ``/trace/remove`` body.

    ``options`` is the body with camelCase keys (what node echoes on add).
    ``expires_in_ms``/``expires_at_ms``: at most one is set (neither for remove).
    """

    event: str
    sink: SinkSpec
    options: dict[str, Any]
    expires_in_ms: float | None = None
    expires_at_ms: float | None = None

    def expires_at(self, now_ms: float) -> float:
        """When the tracer expires (epoch ms), at most a day from ``now_ms``."""
        if self.expires_at_ms is not None:
            return min(self.expires_at_ms, now_ms + MAX_EXPIRES_IN_MS)
        expires_in = DEFAULT_EXPIRES_IN_MS if self.expires_in_ms is None else self.expires_in_ms
        return now_ms + min(expires_in, MAX_EXPIRES_IN_MS)


def camel_keys(value: Any) -> Any:
    """``value`` with every object key (recursively) turned to camelCase, like node."""
    if isinstance(value, dict):
        return {_camel(k) if isinstance(k, str) else k: camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value


def _camel(key: str) -> str:
    return _LISP_OR_SNAKE.sub(lambda m: m.group(1).upper(), key)


def _decode(body: bytes) -> dict[str, Any]:
    try:
        document = msgspec.json.decode(body) if body.strip() else {}
    except msgspec.DecodeError:
        raise TraceOptionError("body", "it is not JSON") from None
    if not isinstance(document, dict):
        raise TraceOptionError("body", "it is not a JSON object")
    converted: dict[str, Any] = camel_keys(document)
    return converted


def _event(options: dict[str, Any]) -> str:
    event = options.get("event")
    if event is None or event == "":
        raise TraceOptionError("event", "is missing")
    if event not in EVENTS:
        raise TraceOptionError("event", "it is unknown")
    return str(event)


def _milliseconds(options: dict[str, Any], name: str) -> float | None:
    value = options.get(name)
    if value is None or value == 0 or value == "":  # node: falsy means absent
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise TraceOptionError(name, "it is not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise TraceOptionError(name, "it is not a number")
    if value < 0 and name == "expiresIn":
        raise TraceOptionError(name, "it is negative")
    return float(value)


def _text(sink: dict[str, Any], name: str, option: str, default: str) -> str:
    value = sink.get(name)
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise TraceOptionError(option, "it is not a string")
    return value


def _sink(options: dict[str, Any], event: str) -> SinkSpec:
    sink = options.get("sink")
    if sink is None:
        sink = {"type": "log"}
    if not isinstance(sink, dict):
        raise TraceOptionError("sink", "it is not an object")
    kind = sink.get("type", "log")
    default_name = f"/trace/{event}"
    if kind == "log":
        level = _text(sink, "level", "log.level", "info")
        if level not in LOG_LEVELS:
            raise TraceOptionError("log.level", f"it is not one of {', '.join(LOG_LEVELS)}")
        return LogSink(level=level, message=_text(sink, "message", "log.message", default_name))
    if kind == "tchannel":
        host_port = sink.get("hostPort")
        if host_port is None or host_port == "":
            raise TraceOptionError("tchannel.hostPort", "is missing")
        if not isinstance(host_port, str) or validate_host_port(host_port) is not None:
            raise TraceOptionError("tchannel.hostPort", "it is not an ip:port")
        timeout = _milliseconds(sink, "timeout")
        timeout_ms = DEFAULT_SINK_TIMEOUT_MS if timeout is None or timeout <= 0 else timeout
        return TChannelSink(
            host_port=host_port,
            service=_text(sink, "serviceName", "tchannel.serviceName", "ringpop"),
            endpoint=_text(sink, "endpoint", "tchannel.endpoint", default_name),
            timeout_ms=int(min(timeout_ms, MAX_SINK_TIMEOUT_MS)),
        )
    raise TraceOptionError("sink.type", "it is unknown (expected log or tchannel)")


def parse_add(body: bytes) -> TraceRequest:
    """The ``/trace/add`` body; :class:`TraceOptionError` if unusable."""
    options = _decode(body)
    event = _event(options)
    expires_in = _milliseconds(options, "expiresIn")
    expires_at = _milliseconds(options, "expiresAt")
    if expires_in is not None and expires_at is not None:
        raise TraceOptionError("expires", "must specify exactly one of expiresAt, expiresIn")
    return TraceRequest(event, _sink(options, event), options, expires_in, expires_at)


def parse_remove(body: bytes) -> TraceRequest:
    """The ``/trace/remove`` body (event and sink; expiry ignored)."""
    options = _decode(body)
    event = _event(options)
    return TraceRequest(event, _sink(options, event), options)
