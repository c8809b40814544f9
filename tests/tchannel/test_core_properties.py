"""Property tests of the sans-IO core both ways: our call out, the peer's core, its answer back.

``send_request`` -> bytes (cut anywhere) -> the peer's ``receive`` -> ``send_response``
-> bytes (cut anywhere) -> our ``receive``: every field arrives as sent, each answer
finds its own call, and the outstanding-call table and deadlines hold exactly what
they should.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringpop.tchannel.api import CODE_APPLICATION_ERROR, Response
from ringpop.tchannel.core import ConnectionCore
from ringpop.tchannel.events import CallAnswered, CallExpired, Event
from ringpop.tchannel.fragments import CompleteMessage
from ringpop.tchannel.frames import CallRequest
from tests.tchannel.cores import handshake, request_of

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CLIENT = {"host_port": "127.0.0.1:5000", "process_name": "client"}
SERVER = {"host_port": "127.0.0.1:4000", "process_name": "server"}

short_text = st.text(min_size=1, max_size=12).filter(lambda s: len(s.encode()) <= 255)
extra_headers = st.dictionaries(
    short_text.filter(lambda k: k not in ("as", "cn")), short_text, max_size=4
)
boundary = st.sampled_from([0, 1, 2, 65_440, 65_450, 65_451, 65_510, 65_536, 131_000])
arg_size = st.one_of(st.integers(0, 300), boundary)
checksum_types = st.sampled_from([0, 1, 2, 3])
timeouts = st.floats(0.0005, 100_000.0, allow_nan=False)


def _pair() -> tuple[ConnectionCore, ConnectionCore]:
    client = ConnectionCore(initiator=True, init_headers=CLIENT, stale_period=0)
    server = ConnectionCore(initiator=False, init_headers=SERVER, max_arg_size=1 << 20)
    return handshake(client, server, CLIENT, SERVER)


def _feed(core: ConnectionCore, data: bytes, cuts: list[int]) -> list[Event]:
    events: list[Event] = []
    last = 0
    for cut in [*sorted(c % (len(data) + 1) for c in cuts), len(data)]:
        events.extend(core.receive(data[last:cut]))
        last = cut
    return events


def _data(size: int, seed: int) -> bytes:
    return bytes((seed + i) % 251 for i in range(size))


@SETTINGS
@given(
    service=short_text,
    sizes=st.tuples(st.integers(0, 16_384), arg_size, arg_size),
    answer_sizes=st.tuples(arg_size, arg_size),
    csum=checksum_types,
    scheme=short_text,
    caller=short_text,
    headers=extra_headers,
    tracing=st.none() | st.binary(min_size=25, max_size=25),
    timeout=timeouts,
    code=st.integers(0, 255),
    answer_headers=extra_headers,
    cuts=st.lists(st.integers(0, 1 << 20), max_size=4),
    back_cuts=st.lists(st.integers(0, 1 << 20), max_size=4),
)
def test_call_round_trip_through_both_cores(
    service: str,
    sizes: tuple[int, int, int],
    answer_sizes: tuple[int, int],
    csum: int,
    scheme: str,
    caller: str,
    headers: dict[str, str],
    tracing: bytes | None,
    timeout: float,
    code: int,
    answer_headers: dict[str, str],
    cuts: list[int],
    back_cuts: list[int],
) -> None:
    client, server = _pair()
    arg1, arg2, arg3 = (_data(n, i) for i, n in enumerate(sizes))
    tag = object()
    fid, data = client.send_request(
        tag, 10.0, timeout, service, arg1, arg2, arg3, csum, scheme, caller, headers, tracing
    )
    assert fid in client.calls
    [message] = _feed(server, data, cuts)
    assert isinstance(message, CompleteMessage)
    first = message.first
    assert isinstance(first, CallRequest)
    assert first.id == fid
    assert first.service == service
    assert first.headers == {"as": scheme, "cn": caller, **headers}
    assert first.tracing == (tracing or bytes(25))
    assert (first.ttl - 1) / 1000 < timeout <= first.ttl / 1000 + 1e-9  # whole ms, rounded up
    assert first.checksum_type == csum
    assert (message.arg1, message.arg2, message.arg3) == (arg1, arg2, arg3)
    assert server.outbox == []

    response = Response(_data(answer_sizes[0], 7), _data(answer_sizes[1], 9), code, answer_headers)
    answer = server.send_response(request_of(message), response)
    [event] = _feed(client, answer, back_cuts)
    assert isinstance(event, CallAnswered)
    assert (event.id, event.tag) == (fid, tag)
    got = event.response
    assert got is not None
    assert (got.arg2, got.arg3) == (response.arg2, response.arg3)
    assert got.code == (0 if code == 0 else CODE_APPLICATION_ERROR)
    assert got.headers == {"as": scheme, **answer_headers}
    assert len(client.calls) == 0
    assert client.receive(answer) == []  # answered already: a repeat is dropped


@SETTINGS
@given(st.lists(st.integers(0, 2000), min_size=1, max_size=30), st.randoms(use_true_random=False))
def test_concurrent_calls_get_their_own_answers_in_any_order(sizes: list[int], rnd: Any) -> None:
    client, server = _pair()
    sent: dict[int, tuple[str, bytes]] = {}
    stream = b""
    for index, size in enumerate(sizes):
        tag = f"call-{index}"
        body = _data(size, index)
        fid, data = client.send_request(tag, 5.0, 1.0, "svc", b"/echo", b"", body, 1, "raw", "c")
        assert fid not in sent
        sent[fid] = (tag, body)
        stream += data
    requests = [request_of(m) for m in server.receive(stream)]  # type: ignore[arg-type]
    assert sorted(r.id for r in requests) == sorted(sent)
    rnd.shuffle(requests)
    answers = b"".join(server.send_response(r, Response(b"", r.arg3[::-1])) for r in requests)
    events = client.receive(answers)
    assert len(events) == len(sizes)
    for event, request in zip(events, requests, strict=True):
        assert isinstance(event, CallAnswered)
        assert event.id == request.id
        tag, body = sent[event.id]
        assert event.tag == tag
        assert event.response is not None
        assert event.response.arg3 == body[::-1]
    assert len(client.calls) == 0


@SETTINGS
@given(
    st.lists(st.integers(1, 50), min_size=1, max_size=20),
    st.lists(st.integers(0, 60), min_size=1, max_size=6),
    st.sets(st.integers(0, 19), max_size=10),
)
def test_expire_returns_exactly_the_overdue_calls(
    deadlines: list[int], times: list[int], answered: set[int]
) -> None:
    client, _ = _pair()
    ids = []
    for index, deadline in enumerate(deadlines):
        fid, _ = client.send_ping(index, float(deadline))
        ids.append(fid)
    for index in answered:
        if index < len(ids):
            assert client.drop_call(ids[index])
    left = {ids[i]: d for i, d in enumerate(deadlines) if i not in answered}
    for now in sorted(times):
        events = client.expire(float(now))
        due = {fid for fid, at in left.items() if at <= now}
        assert all(isinstance(e, CallExpired) for e in events)  # no stale rule (period 0)
        assert {e.id for e in events} == due  # type: ignore[union-attr]
        for fid in due:
            del left[fid]
        assert len(client.calls) == len(left)
        expected = float(min(left.values())) if left else None
        assert client.calls.next_deadline() == expected
