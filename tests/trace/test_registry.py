"""The tracer registry and body parsing: node's format, errors, expiry with injected time, cap."""

from __future__ import annotations

import json

import pytest

from ringpop.trace import (
    CHECKSUM_EVENT,
    RING_EVENT,
    LogSink,
    TChannelSink,
    TraceLimitError,
    TraceOptionError,
    TracerRegistry,
    parse_add,
    parse_remove,
)
from ringpop.trace.options import DEFAULT_EXPIRES_IN_MS, MAX_EXPIRES_IN_MS
from ringpop.trace.sinks import WarnLimiter

SINK = "127.0.0.1:4000"


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def add_body(expires_in: int = 1000, host_port: str = SINK, **sink: object) -> bytes:
    return body(
        event=CHECKSUM_EVENT,
        expiresIn=expires_in,
        sink={"type": "tchannel", "hostPort": host_port, **sink},
    )


def test_node_body_with_defaults() -> None:
    request = parse_add(add_body())
    assert request.event == CHECKSUM_EVENT
    assert request.sink == TChannelSink(SINK, "ringpop", "/trace/membership.checksum.update")
    assert request.expires_in_ms == 1000
    assert request.expires_at(5000) == 6000
    log = parse_add(body(event=RING_EVENT, expiresAt=9000, sink={"type": "log"}))
    assert log.sink == LogSink("info", "/trace/ring.changed")
    assert log.expires_at(5000) == 9000


def test_kebab_and_snake_keys_become_camel_case() -> None:
    raw = body(
        event=CHECKSUM_EVENT,
        **{"expires-in": 5000},
        sink={"type": "tchannel", "host_port": SINK, "service-name": "sinks", "endpoint": "/e"},
    )
    request = parse_add(raw)
    assert request.sink == TChannelSink(SINK, "sinks", "/e")
    assert request.options == {
        "event": CHECKSUM_EVENT,
        "expiresIn": 5000,
        "sink": {"type": "tchannel", "hostPort": SINK, "serviceName": "sinks", "endpoint": "/e"},
    }


def test_missing_optional_fields_take_nodes_defaults() -> None:
    request = parse_add(body(event=CHECKSUM_EVENT))
    assert request.sink == LogSink("info", "/trace/membership.checksum.update")
    assert request.expires_at(0) == DEFAULT_EXPIRES_IN_MS
    assert parse_add(body(event=CHECKSUM_EVENT, expiresIn=10**12)).expires_at(0) == (
        MAX_EXPIRES_IN_MS
    )
    assert parse_add(body(event=CHECKSUM_EVENT, expiresIn="250")).expires_in_ms == 250


@pytest.mark.parametrize(
    ("raw", "option", "reason"),
    [
        (b"not json", "body", "it is not JSON"),
        (b"[1]", "body", "it is not a JSON object"),
        (body(expiresIn=1), "event", "is missing"),
        (body(event="nope", expiresIn=1), "event", "it is unknown"),
        (
            body(event=CHECKSUM_EVENT, expiresIn=1, expiresAt=2),
            "expires",
            "must specify exactly one of expiresAt, expiresIn",
        ),
        (body(event=CHECKSUM_EVENT, expiresIn="soon"), "expiresIn", "it is not a number"),
        (body(event=CHECKSUM_EVENT, expiresIn=-5), "expiresIn", "it is negative"),
        (body(event=CHECKSUM_EVENT, sink="log"), "sink", "it is not an object"),
        (
            body(event=CHECKSUM_EVENT, sink={"type": "kafka"}),
            "sink.type",
            "it is unknown (expected log or tchannel)",
        ),
        (body(event=CHECKSUM_EVENT, sink={"type": "tchannel"}), "tchannel.hostPort", "is missing"),
        (add_body(host_port="nowhere"), "tchannel.hostPort", "it is not an ip:port"),
        (add_body(endpoint=7), "tchannel.endpoint", "it is not a string"),
        (
            body(event=CHECKSUM_EVENT, sink={"type": "log", "level": "loud"}),
            "log.level",
            "it is not one of error, warn, info, debug, trace",
        ),
    ],
)
def test_bad_bodies_are_invalid_options(raw: bytes, option: str, reason: str) -> None:
    with pytest.raises(TraceOptionError) as caught:
        parse_add(raw)
    assert (caught.value.option, caught.value.reason) == (option, reason)
    assert caught.value.type == "ringpop.invalid-option"
    assert caught.value.message == f"`{option}` option is invalid because {reason}"


def test_add_renews_remove_matches_with_defaults_applied() -> None:
    registry = TracerRegistry()
    first, created = registry.add(parse_add(add_body(expires_in=100)), now_ms=0)
    assert created
    again, created = registry.add(
        parse_add(add_body(expires_in=500, endpoint="/trace/" + CHECKSUM_EVENT)), 50
    )
    assert again is first
    assert not created
    assert first.expires_at_ms == 550
    other, created = registry.add(parse_add(add_body(endpoint="/other")), 50)
    assert created
    assert len(registry) == 2
    # remove without the default endpoint matches the tracer that has it (node would not)
    removed = registry.remove(
        parse_remove(body(event=CHECKSUM_EVENT, sink={"type": "tchannel", "hostPort": SINK}))
    )
    assert removed is first
    assert (
        registry.remove(
            parse_remove(body(event=CHECKSUM_EVENT, sink={"type": "tchannel", "hostPort": SINK}))
        )
        is None
    )
    assert list(registry) == [other]


def test_expiry_with_injected_time() -> None:
    registry = TracerRegistry()
    short, _ = registry.add(parse_add(add_body(expires_in=100)), now_ms=1000)
    long, _ = registry.add(parse_add(add_body(expires_in=300, endpoint="/long")), now_ms=1000)
    assert registry.next_expiry() == 1100
    assert registry.for_event(CHECKSUM_EVENT, 1099) == [short, long]
    assert registry.for_event(CHECKSUM_EVENT, 1100) == [long]  # due: no longer delivered
    assert registry.expire(1099) == []
    assert registry.expire(1100) == [short]
    assert registry.next_expiry() == 1300
    assert registry.for_event(RING_EVENT, 1100) == []
    assert registry.expire(5000) == [long]
    assert registry.next_expiry() is None
    assert len(registry) == 0


def test_expiry_in_the_past_never_delivers() -> None:
    registry = TracerRegistry()
    registry.add(parse_add(body(event=CHECKSUM_EVENT, expiresAt=500)), now_ms=1000)
    assert registry.for_event(CHECKSUM_EVENT, 1000) == []
    assert len(registry.expire(1000)) == 1


def test_cap_counts_live_tracers_only() -> None:
    registry = TracerRegistry(max_tracers=2)
    registry.add(parse_add(add_body(expires_in=100, endpoint="/a")), 0)
    registry.add(parse_add(add_body(expires_in=1000, endpoint="/b")), 0)
    with pytest.raises(TraceLimitError) as caught:
        registry.add(parse_add(add_body(endpoint="/c")), 50)
    assert caught.value.type == "ringpop.trace.limit-exceeded"
    registry.add(parse_add(add_body(endpoint="/a")), 60)  # renewing is not a new tracer
    registry.add(parse_add(add_body(endpoint="/c")), 2000)  # both expired by then
    assert len(registry) == 1


def test_warn_limiter_counts_what_it_holds_back() -> None:
    now = [0.0]
    limiter = WarnLimiter(10.0, monotonic=lambda: now[0])
    assert limiter.allow() == 0
    now[0] = 5.0
    assert limiter.allow() is None
    assert limiter.allow() is None
    now[0] = 10.0
    assert limiter.allow() == 2
