"""Node-style forwarding (``/proxy/req``, spec §5.8) between in-process nodes over TCP.

Rings are disturbed directly (a made-up server added to one node's ring, a server
removed when a retry is scheduled) so every retry path runs deterministically.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from typing import Any

import msgspec
import pytest

from ringpop import HttpRequest, HttpResponse, Options
from ringpop.events import (
    ChecksumsDiffer,
    RequestProxied,
    RetryAborted,
    RetryAttempted,
    RetryFailed,
    RetryRerouted,
    RetryScheduled,
    RetrySucceeded,
)
from ringpop.forward import ForwardError, ForwardOptions, ProxyError
from ringpop.forward import policy as forward_policy
from ringpop.ring import HashRing
from ringpop.tchannel import Channel, Response
from tests.forward.conftest import Member, key_owned_by, start_members, until

FAKE = "127.0.0.1:1"


def request(body: bytes = b"", **headers: str) -> HttpRequest:
    return HttpRequest("POST", "/things/1?x=y", {"x-test": "yes", **headers}, body)


async def proxy_req(client: Channel, address: str, head: bytes, body: bytes = b"") -> Response:
    """A raw ``/proxy/req`` call, as ringpop-node sends it (head in arg2, body in arg3)."""
    return await client.call(address, "ringpop", "/proxy/req", head, body, timeout=5, scheme="raw")


async def test_local_key_is_handled_here(trio: list[Member]) -> None:
    a = trio[0]
    key = key_owned_by(trio, a)
    response = await a.rp.handle_or_proxy(key, request(b"hi"))
    assert response.status == 200
    assert response.headers["x-handled-by"] == a.address
    assert a.seen[-1].source is None
    assert not a.seen[-1].forwarded
    assert not a.of(RequestProxied)


async def test_forwarded_request_reaches_the_owner_intact(trio: list[Member]) -> None:
    a, b, _ = trio
    key = key_owned_by(trio, b)
    body = bytes(range(256)) * 3
    response = await a.rp.handle_or_proxy(key, request(body, **{"x-want-status": "418"}))
    assert response.status == 418
    assert response.body == body
    assert response.headers["x-handled-by"] == b.address
    assert response.headers["set-cookie"] == ["a=1", "b=2"]
    seen = b.seen[-1]
    assert (seen.method, seen.url, seen.http_version) == ("POST", "/things/1?x=y", "1.1")
    assert seen.headers["x-test"] == "yes"
    assert seen.body == body
    assert seen.source == a.address
    assert seen.keys == (key,)
    assert seen.forwarded
    [proxied] = a.of(RequestProxied)
    assert (proxied.destination, proxied.ok, proxied.keys) == (b.address, True, (key,))
    assert not a.of(RetryScheduled)


async def test_checksum_mismatch_is_refused_and_retried(trio: list[Member]) -> None:
    a, b, _ = trio
    key = key_owned_by(trio, b)
    b.rp.node.ring.add_server(FAKE)  # b's checksum now differs from everybody's
    asyncio.get_running_loop().call_later(0.08, b.rp.node.ring.remove_server, FAKE)
    started = time.monotonic()
    response = await a.rp.handle_or_proxy(key, request(b"x"), retry_schedule=[0.05, 0.1, 0.2])
    assert response.status == 200, response.body
    assert response.headers["x-handled-by"] == b.address
    assert time.monotonic() - started >= 0.08
    scheduled = a.of(RetryScheduled)
    assert scheduled
    assert "invalid-checksum" in scheduled[0].error
    assert a.of(RetryAttempted)
    [succeeded] = a.of(RetrySucceeded)
    assert succeeded.destination == b.address
    assert not a.of(RetryRerouted)
    differ = b.of(ChecksumsDiffer)
    assert differ
    assert differ[0].actual == a.rp.node.ring.checksum
    assert len(b.seen) == 1  # refused attempts never reached the handler


async def test_checksum_mismatch_is_served_without_enforcement() -> None:
    members = await start_members(2, Options(min_protocol_period=0.05, enforce_consistency=False))
    try:
        a, b = members
        key = key_owned_by(members, b)
        b.rp.node.ring.add_server(FAKE)
        response = await a.rp.handle_or_proxy(key, request())
        assert response.status == 200
        assert b.of(ChecksumsDiffer)
        assert not a.of(RetryScheduled)
    finally:
        await asyncio.gather(*(m.rp.close(self_evict=False) for m in members))


async def test_retry_is_rerouted_to_the_new_owner(trio: list[Member]) -> None:
    a, b, c = trio
    ring = HashRing()
    ring.add_server(a.address)
    ring.add_server(c.address)
    # a key b owns now, and c owns once b has left the ring
    key = next(
        k
        for k in (f"move-{i}" for i in range(10_000))
        if a.rp.lookup(k) == b.address and ring.lookup(k) == c.address
    )
    b.rp.node.ring.add_server(FAKE)  # b refuses everything

    def ring_change(event: object) -> None:  # b leaves the rings of a and c
        for member in (a, c):
            member.rp.node.ring.remove_server(b.address)

    a.rp.events.on(RetryScheduled, ring_change)
    response = await a.rp.handle_or_proxy(key, request(b"moved"))
    assert response.status == 200
    assert response.headers["x-handled-by"] == c.address
    [rerouted] = a.of(RetryRerouted)
    assert (rerouted.previous, rerouted.destination) == (b.address, c.address)
    [succeeded] = a.of(RetrySucceeded)
    assert succeeded.destination == c.address
    assert c.seen[-1].source == a.address


async def test_retry_that_comes_home_is_handled_locally(trio: list[Member]) -> None:
    a, b, c = trio
    ring = HashRing()
    ring.add_server(a.address)
    ring.add_server(c.address)
    key = next(
        k
        for k in (f"home-{i}" for i in range(10_000))
        if a.rp.lookup(k) == b.address and ring.lookup(k) == a.address
    )
    b.rp.node.ring.add_server(FAKE)
    a.rp.events.on(RetryScheduled, lambda e: a.rp.node.ring.remove_server(b.address))
    response = await a.rp.handle_or_proxy(key, request(b"home"))
    assert response.status == 200
    assert response.headers["x-handled-by"] == a.address
    assert a.seen[-1].source is None  # served here, not forwarded
    [rerouted] = a.of(RetryRerouted)
    assert rerouted.destination == a.address


@pytest.mark.parametrize(
    "overrides",
    [
        {"reroute_retries": False},
        {"options": ForwardOptions(reroute_retries=False)},
        {"skip_lookup_on_retry": True},  # the deprecated spelling of the same
    ],
)
async def test_retries_without_reroute_keep_the_destination(
    trio: list[Member], overrides: dict[str, Any]
) -> None:
    a, b, _ = trio
    key = key_owned_by(trio, b)
    b.rp.node.ring.add_server(FAKE)
    a.rp.events.on(RetryScheduled, lambda e: a.rp.node.ring.remove_server(b.address))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response = await a.rp.handle_or_proxy(key, request(), retry_schedule=[0, 0, 0], **overrides)
    deprecated = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(deprecated) == ("skip_lookup_on_retry" in overrides)
    assert all(w.filename == __file__ for w in deprecated)  # points at the caller
    assert response.status == 503
    assert response.headers["retry-after"] == "1"
    assert response.headers["x-ringpop-error"] == "ringpop.request-proxy.max-retries-exceeded"
    assert not a.of(RetryRerouted)
    assert {e.destination for e in a.of(RequestProxied)} == {b.address}


async def test_keys_on_different_owners_are_refused(trio: list[Member]) -> None:
    a, b, c = trio
    keys = [key_owned_by(trio, b), key_owned_by(trio, c)]
    response = await a.rp.handle_or_proxy(keys, request())
    assert response.status == 500
    assert response.headers["x-ringpop-error"] == "ringpop.request-proxy.keys-diverged"
    assert not a.of(RequestProxied)
    assert not b.seen
    assert not c.seen


async def test_keys_that_diverge_during_retries_abort(trio: list[Member]) -> None:
    a, b, c = trio
    ring = HashRing()
    ring.add_server(a.address)
    ring.add_server(c.address)
    # two keys of b: once b leaves, one goes to a and the other to c
    candidates = [f"split-{i}" for i in range(10_000)]
    first = next(
        k for k in candidates if a.rp.lookup(k) == b.address and ring.lookup(k) == a.address
    )
    second = next(
        k for k in candidates if a.rp.lookup(k) == b.address and ring.lookup(k) == c.address
    )
    b.rp.node.ring.add_server(FAKE)
    a.rp.events.on(RetryScheduled, lambda e: a.rp.node.ring.remove_server(b.address))
    response = await a.rp.handle_or_proxy([first, second], request())
    assert response.status == 500
    assert response.headers["x-ringpop-error"] == "ringpop.request-proxy.keys-diverged"
    [aborted] = a.of(RetryAborted)
    assert aborted.keys == (first, second)
    assert aborted.attempt == 1
    assert not a.of(RetryFailed)
    assert not a.seen
    assert not c.seen


async def test_retries_run_out_with_a_clear_error(
    trio: list[Member], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(forward_policy, "RING_SETTLE_TRIES", 0)  # only the schedule's retries
    a, b, _ = trio
    key = key_owned_by(trio, b)
    b.rp.node.ring.add_server(FAKE)
    response = await a.rp.handle_or_proxy(key, request(), retry_schedule=[0, 0.01], max_retries=3)
    assert response.status == 503  # node answers 500; a client should try again later
    assert response.headers["retry-after"] == "1"
    assert response.body.startswith(b"Max number of retries exceeded. 3 were attempted")
    assert len(a.of(RequestProxied)) == 4  # the first attempt and 3 retries
    assert [e.attempt for e in a.of(RetryScheduled)] == [1, 2, 3]
    [failed] = a.of(RetryFailed)
    assert failed.attempts == 3
    none = await a.rp.handle_or_proxy(key, request(), max_retries=0)
    assert none.status == 503
    assert len(a.of(RequestProxied)) == 5


async def test_a_closed_node_forwards_nothing_and_stops_retrying(trio: list[Member]) -> None:
    a, b, c = trio
    key = key_owned_by(trio, b)
    b.rp.node.ring.add_server(FAKE)  # b refuses: a retries on its schedule
    slow = [0.3, 5.0, 5.0]
    retrying = asyncio.ensure_future(a.rp.handle_or_proxy(key, request(), retry_schedule=slow))
    gone = asyncio.ensure_future(a.rp.forward(key, "forward-test", "/none", retry_schedule=slow))
    await until(lambda: len(a.of(RetryScheduled)) >= 2)
    started = time.monotonic()
    await a.rp.close(self_evict=False)
    answer = await asyncio.wait_for(retrying, 3.0)  # not the 10 s left of its schedule
    assert answer.status == 503
    assert b"channel is closed" in answer.body
    with pytest.raises(ForwardError, match="channel is closed"):
        await asyncio.wait_for(gone, 3.0)
    assert time.monotonic() - started < 2.0
    refused = await a.rp.handle_or_proxy(key, request())
    assert (refused.status, refused.headers["x-ringpop-error"]) == (
        503,
        "ringpop.request-proxy.closed",
    )
    with pytest.raises(ForwardError, match="was closed"):
        await a.rp.forward(key, "forward-test", "/none")
    assert c.rp.whoami()  # the others run on


async def test_a_request_no_json_can_carry_is_a_400_not_an_exception(trio: list[Member]) -> None:
    """handle_or_proxy "always returns a response": a header with a lone surrogate
    raised UnicodeEncodeError out of it instead."""
    a, b, _ = trio
    key = key_owned_by(trio, b)
    bad = HttpRequest("POST", "/things/1", {"x-bad": "\udce9"}, b"")
    answer = await a.rp.handle_or_proxy(key, bad)
    assert answer.status == 400
    assert answer.headers["x-ringpop-error"] == "ringpop.request-proxy.bad-request"
    assert not b.seen


async def test_bodies_no_call_can_carry_are_answered_not_raised_nor_retried() -> None:
    """A body within body_limit but over max_arg_size raised ValueError out of
    handle_or_proxy; an owner's answer over it failed every retry, and the handler ran
    once per retry (six times), then 503."""
    options = Options(
        min_protocol_period=0.05, max_arg_size=64 << 10, body_limit=1 << 20,
        proxy_retry_schedule=(0.0, 0.05),
    )  # fmt: skip
    members = await start_members(2, options)
    a, b = members
    try:
        key = key_owned_by(members, b)
        big = await a.rp.handle_or_proxy(key, request(b"x" * (100 << 10)))
        assert big.status == 413
        assert big.headers["x-ringpop-error"] == "ringpop.request-proxy.body-too-large"
        assert not b.seen
        served: list[HttpRequest] = []

        def huge(served_request: HttpRequest) -> HttpResponse:
            served.append(served_request)
            return HttpResponse(200, {}, b"y" * (100 << 10))

        b.rp.set_http_handler(huge)
        answer = await a.rp.handle_or_proxy(key, request())
        assert answer.status == 502
        assert b"more than one call carries" in answer.body
        assert len(served) == 1
        assert not a.of(RetryScheduled)
    finally:
        await asyncio.gather(*(m.rp.close(self_evict=False) for m in members))


async def test_a_size_refusal_from_the_owner_is_answered_once_not_retried() -> None:
    """An owner whose max_arg_size is below ours refuses a request we can send: every
    retry fails the same way, so the client gets a 502 at once instead of a 503 after
    the whole retry schedule."""
    base = dict(min_protocol_period=0.05, proxy_retry_schedule=(0.0, 0.5, 1.0))
    large = Options(**base, max_arg_size=1 << 20)  # type: ignore[arg-type]
    small = Options(**base, max_arg_size=64 << 10)  # type: ignore[arg-type]
    members = await start_members(2, [large, small])
    a, b = members
    try:
        key = key_owned_by(members, b)
        started = time.monotonic()
        answer = await a.rp.handle_or_proxy(key, request(b"x" * (200 << 10)))
        assert time.monotonic() - started < 1.0
        assert answer.status == 502, answer.body
        assert answer.headers["x-ringpop-error"] == "ringpop.request-proxy.too-large"
        assert not b.seen
        assert not a.of(RetryScheduled)
        assert (await a.rp.handle_or_proxy(key, request(b"fits"))).status == 200
    finally:
        await asyncio.gather(*(m.rp.close(self_evict=False) for m in members))


async def test_each_attempt_is_bounded_by_the_timeout(trio: list[Member]) -> None:
    a, b, _ = trio
    b.delay = 2.0
    key = key_owned_by(trio, b)
    started = time.monotonic()
    response = await a.rp.handle_or_proxy(
        key, request(), timeout=0.2, max_retries=1, retry_schedule=[0]
    )
    elapsed = time.monotonic() - started
    assert response.status == 503  # POST: no failover to another owner
    assert b"timed out" in response.body or b"timeout" in response.body.lower()
    assert 0.35 <= elapsed < 1.5


async def test_body_over_the_limit_is_413_and_not_sent(trio: list[Member]) -> None:
    a, b, _ = trio
    key = key_owned_by(trio, b)
    limit = a.rp.options.body_limit
    response = await a.rp.handle_or_proxy(key, request(b"x" * (limit + 1)))
    assert response.status == 413
    assert response.headers["x-ringpop-error"] == "ringpop.request-proxy.body-too-large"
    assert not a.of(RequestProxied)
    assert not b.seen
    at_limit = await a.rp.handle_or_proxy(key, request(b"y" * limit))
    assert at_limit.status == 200
    assert len(at_limit.body) == limit


async def test_handler_errors_are_500_and_not_retried(trio: list[Member]) -> None:
    a, b, _ = trio
    b.fail = RuntimeError("boom")
    key = key_owned_by(trio, b)
    response = await a.rp.handle_or_proxy(key, request())
    assert response.status == 500
    assert b"boom" in response.body
    assert not a.of(RetryScheduled)
    assert len(b.seen) == 1
    a.fail = RuntimeError("local boom")  # the local path answers 500 too
    local = await a.rp.handle_or_proxy(key_owned_by(trio, a), request())
    assert local.status == 500
    assert b"local boom" in local.body


async def test_key_consistency_is_enforced_when_asked() -> None:
    options = Options(min_protocol_period=0.05, enforce_key_consistency=True)
    members = await start_members(3, options)
    try:
        a, b, c = members
        key = key_owned_by(members, b)
        served = await a.rp.handle_or_proxy(key, request(), max_retries=0)
        assert served.headers["x-handled-by"] == b.address
        with pytest.raises(ProxyError, match="invalid-key"):  # straight to c: not its key
            await a.rp.proxy.proxy([key], request(), c.address, ForwardOptions(max_retries=0))
        assert not c.seen
    finally:
        await asyncio.gather(*(m.rp.close(self_evict=False) for m in members))


async def test_key_inconsistency_is_served_by_default(trio: list[Member]) -> None:
    a, b, c = trio
    key = key_owned_by(trio, b)
    response = await a.rp.proxy.proxy([key], request(), c.address, ForwardOptions(max_retries=0))
    assert response.headers["x-handled-by"] == c.address


async def test_backpressure_answers_429() -> None:
    options = Options(min_protocol_period=0.05, backpressure_enabled=True, max_inflight_requests=1)
    members = await start_members(2, options)
    try:
        a, b = members
        b.delay = 0.3
        key = key_owned_by(members, b)
        first, second = await asyncio.gather(
            a.rp.handle_or_proxy(key, request(b"1")),
            a.rp.handle_or_proxy(key, request(b"2")),
        )
        statuses = sorted([first.status, second.status])
        assert statuses == [200, 429]
        refused = first if first.status == 429 else second
        error = msgspec.json.decode(refused.body)
        assert error["type"] == "ringpop.request-proxy.too-many-requests"
        assert not a.of(RetryScheduled)  # 429 is an answer, not a failure
    finally:
        await asyncio.gather(*(m.rp.close(self_evict=False) for m in members))


async def test_wire_format_matches_the_spec(trio: list[Member]) -> None:
    """A raw /proxy/req call, as ringpop-node sends it (§5.8): head in arg2, body in arg3."""
    _, b, _ = trio
    key = key_owned_by(trio, b)
    head = {
        "url": "/raw?q=1",
        "headers": {"x-multi": ["1", "2"], "x-num": 5, "Host": "h"},
        "method": "PUT",
        "httpVersion": "1.0",
        "ringpopChecksum": b.rp.node.ring.checksum,
        "ringpopKeys": [key],
    }
    async with Channel("127.0.0.1:0") as client:
        response = await proxy_req(client, b.address, msgspec.json.encode(head), b"raw body")
        assert response.ok
        answer = msgspec.json.decode(response.arg2)
        assert answer["statusCode"] == 200
        assert answer["headers"]["set-cookie"] == ["a=1", "b=2"]
        assert response.arg3 == b"raw body"
        seen = b.seen[-1]
        assert (seen.method, seen.url, seen.http_version) == ("PUT", "/raw?q=1", "1.0")
        assert seen.headers == {"x-multi": "1, 2", "x-num": "5", "host": "h"}
        bad = await proxy_req(
            client, b.address, msgspec.json.encode({**head, "ringpopChecksum": 1})
        )
        assert not bad.ok
        error = msgspec.json.decode(bad.arg3)
        assert error["type"] == "ringpop.request-proxy.invalid-checksum"
        assert error["expected"] == b.rp.node.ring.checksum
        assert error["actual"] == 1
        assert error["message"].startswith("Expected the remote checksum to match local checksum.")


async def test_head_is_received_liberally(trio: list[Member]) -> None:
    """Unusable head fields take defaults, non-string keys are dropped alone (§1.1)."""
    _, b, _ = trio
    key = key_owned_by(trio, b)
    head = {
        "url": "/liberal",
        "headers": None,
        "method": "GET",
        "httpVersion": 1.1,
        "ringpopChecksum": None,
        "ringpopKeys": [5, key, None, ["k"]],
    }
    async with Channel("127.0.0.1:0") as client:
        response = await proxy_req(client, b.address, msgspec.json.encode(head))
        assert response.ok, response.arg3
        seen = b.seen[-1]
        assert (seen.url, seen.http_version, seen.headers, seen.keys) == (
            "/liberal",
            "1.1",
            {},
            (key,),
        )
        assert b.rp.node.guard.dropped == {"entry": 3}
        for unusable in (b"[1]", b"{not json"):
            refused = await proxy_req(client, b.address, unusable)
            assert not refused.ok
            assert msgspec.json.decode(refused.arg3)["type"] == "ringpop.request-proxy.bad-head"


async def test_a_plain_function_handler_serves_and_a_wrong_answer_is_a_500(
    trio: list[Member],
) -> None:
    """A plain (non-async) handler failed with "can't be used in 'await' expression"
    after it had run; one returning something else than an HttpResponse was an
    AttributeError outside the handler's try on the owner."""
    a, b, _ = trio

    def plain(req: HttpRequest) -> HttpResponse:
        return HttpResponse(200, {}, b"plain " + req.body)

    def wrong(req: HttpRequest) -> HttpResponse:
        return {"status": 200}  # type: ignore[return-value]

    for member in trio:
        member.rp.set_http_handler(plain)
    remote = await a.rp.handle_or_proxy(key_owned_by(trio, b), request(b"x"))
    local = await a.rp.handle_or_proxy(key_owned_by(trio, a), request(b"y"))
    assert (remote.status, remote.body) == (200, b"plain x")
    assert (local.status, local.body) == (200, b"plain y")
    b.rp.set_http_handler(wrong)
    answer = await a.rp.handle_or_proxy(key_owned_by(trio, b), request())
    assert answer.status == 500
    assert b"not an HttpResponse" in answer.body


async def test_a_request_is_checked_the_same_whoever_owns_its_key(trio: list[Member]) -> None:
    """A str body worked when the key was ours and raised from deep in the channel
    when it was not; a bytearray body reached a local handler as a bytearray."""
    a, b, _ = trio
    mine, theirs = key_owned_by(trio, a), key_owned_by(trio, b)
    for key in (mine, theirs):
        with pytest.raises(TypeError, match=r"body must be bytes, not str \(encode"):
            await a.rp.handle_or_proxy(key, HttpRequest("POST", "/x", {}, "text"))  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="must be an HttpRequest"):
            await a.rp.handle_or_proxy(key, {"method": "GET", "url": "/"})  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="url must be str"):
            await a.rp.handle_or_proxy(key, HttpRequest("GET", None))  # type: ignore[arg-type]
        fixed = HttpRequest("POST", "/x", {"content-length": 3, "a": ["1", "2"]}, bytearray(b"abc"))  # type: ignore[arg-type, dict-item]
        assert (await a.rp.handle_or_proxy(key, fixed)).status == 200
    for member in (a, b):
        served = member.seen[-1]
        assert served.body.__class__ is bytes
        assert served.body == b"abc"
        assert served.headers["content-length"] == "3"
        assert served.headers["a"] == "1, 2"


async def test_a_response_is_checked_the_same_whoever_owns_its_key(trio: list[Member]) -> None:
    """A handler's str or None body was a 200 locally and, forwarded, failed on the
    owner once per retry (the handler running six times) and ended in a 503."""
    a, b, _ = trio
    mine, theirs = key_owned_by(trio, a), key_owned_by(trio, b)
    calls: list[str] = []
    answers = [
        (HttpResponse(200, {}, "text"), 500, b"body must be bytes, not str"),  # type: ignore[arg-type]
        (HttpResponse(200, {}, None), 500, b"body must be bytes, not NoneType"),  # type: ignore[arg-type]
        (HttpResponse("200", {}, b""), 500, b"status must be an int"),  # type: ignore[arg-type]
        (HttpResponse(1000, {}, b""), 500, b"status must be 100-999"),
        (HttpResponse(201, {"x-n": 5}, memoryview(b"mv")), 201, b"mv"),  # type: ignore[arg-type, dict-item]
    ]
    for answer, status, body in answers:

        def handler(request: HttpRequest, answer: HttpResponse = answer) -> HttpResponse:
            calls.append(request.url)
            return answer

        for member in (a, b):
            member.rp.set_http_handler(handler)
        for key in (mine, theirs):
            calls.clear()
            response = await a.rp.handle_or_proxy(key, request())
            assert (response.status, len(calls)) == (status, 1)
            assert body in response.body
            assert response.body.__class__ is bytes
            if status == 201:
                assert response.headers["x-n"] == "5"
    assert not a.of(RetryScheduled)
