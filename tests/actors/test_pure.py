"""The pure parts: mailbox admission and dedupe, fencing tokens, expected handovers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ringpop.actors.fencing import Fence, next_token, token_str
from ringpop.actors.handover import GainedRanges
from ringpop.actors.mailbox import Admission, Mailbox
from ringpop.clock import ManualClock
from ringpop.hashing import fingerprint32
from ringpop.ring.ownership import Range, RangeChange
from ringpop.state.hlc import HybridClock, Version


def test_mailbox_fifo_capacity_and_close() -> None:
    box: Mailbox[int] = Mailbox(3)
    assert box.offer("a", 1, [b"1", b"2"])[0] is Admission.ACCEPTED
    assert box.offer("b", 1, [b"x", b"y"])[0] is Admission.FULL
    assert box.offer("b", 1, [b"x"])[0] is Admission.ACCEPTED
    entry = box.take()
    assert entry is not None
    assert entry.stream == "a"
    assert box.queued == 1
    assert box.offer("a", 1, [b"1", b"2"])[0] is Admission.PENDING  # a retry, in hand
    box.done(entry, [1, 2])
    admission, cached = box.offer("a", 1, [b"1", b"2"])
    assert admission is Admission.DONE
    assert cached.results == [1, 2]
    moved = box.close()
    assert [(e.stream, e.first) for e in moved] == [("b", 1)]
    assert box.offer("c", 1, [b"z"])[0] is Admission.CLOSED
    assert box.handled == {"a": 2}  # what travels with the state: b was not handled


def test_mailbox_skips_the_handled_prefix_of_an_overlapping_batch() -> None:
    box: Mailbox[int] = Mailbox(10, {"s": 3})
    admission, entry = box.offer("s", 2, [b"2", b"3", b"4", b"5"])
    assert admission is Admission.ACCEPTED
    assert entry.skip == 2
    assert entry.size == 2
    assert box.queued == 2


def test_mailbox_forgets_least_recent_streams() -> None:
    box: Mailbox[int] = Mailbox(10, max_streams=2)
    for stream in "abc":
        _, entry = box.offer(stream, 1, [b"m"])
        assert box.take() is entry
        box.done(entry, [0])
    assert list(box.handled) == ["b", "c"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("abc"), st.integers(1, 3), st.booleans(), st.booleans()),
        max_size=60,
    )
)
def test_mailbox_never_handles_a_seq_twice_and_keeps_stream_order(
    steps: list[tuple[str, int, bool, bool]],
) -> None:
    """Senders with one batch in flight, retries of that batch, takes in between."""
    box: Mailbox[int] = Mailbox(8)
    next_seq = {"a": 1, "b": 1, "c": 1}
    inflight: dict[str, tuple[int, int]] = {}
    handled: list[tuple[str, int]] = []
    for stream, size, retry, take in steps:
        if retry and stream in inflight:
            first, count = inflight[stream]
        else:
            first, count = next_seq[stream], size
        admission, _entry = box.offer(stream, first, [b"m"] * count)
        if admission is Admission.ACCEPTED or admission is Admission.FULL:
            next_seq[stream] = max(next_seq[stream], first + count)
        if admission is Admission.ACCEPTED:
            inflight[stream] = (first, count)
        if take:
            got = box.take()
            if got is not None:
                handled += [(got.stream, got.first + i) for i in range(got.skip, len(got.payloads))]
                box.done(got, [0] * len(got.payloads))
                inflight.pop(got.stream, None)
    assert len(handled) == len(set(handled))
    for stream in "abc":
        seqs = [seq for s, seq in handled if s == stream]
        assert seqs == sorted(seqs)


def test_tokens_grow_past_everything_seen() -> None:
    clock = ManualClock()
    hlc = HybridClock("b", clock.now_ms)
    previous = Version(clock.now_ms() + 5_000, 7, "a")  # a leader whose clock was ahead
    token = next_token(hlc, [previous, None])
    assert token > previous
    assert token.node == "b"
    assert next_token(hlc, []) > token
    far = Version(clock.now_ms() + 10**9, 0, "z")  # beyond the drift limit: skipped
    assert next_token(hlc, [far]) < far
    assert token_str(Version(5, 1, "n")) == "5.1@n"


def test_fence_refuses_older_tokens() -> None:
    fence = Fence()
    old, new = Version(10, 0, "a"), Version(10, 0, "b")
    assert fence.admit(old)
    assert fence.admit(new)
    assert fence.admit(new)
    assert not fence.admit(old)


def test_gained_ranges_expect_a_handover_from_live_previous_owners() -> None:
    h = fingerprint32("k")
    gained = GainedRanges(window=10.0)
    change = RangeChange(Range(h, h + 1), ("old",), ("me",))
    elsewhere = RangeChange(Range(0, 1) if h > 0 else Range(1, 2), ("x",), ("me",))
    gained.add([change, elsewhere, RangeChange(Range(h, h + 1), ("me",), ("me",))], "me", 0.0)
    assert gained.previous_owner("k", 1.0) == "old"
    assert gained.expects("k", 1.0, ["old", "me"])
    assert not gained.expects("k", 1.0, ["me"])  # the previous owner is gone
    assert gained.previous_owner("k", 11.0) is None  # out of the window


_TEXT = st.text(st.sampled_from("ab:%3A"), max_size=6)


@given(_TEXT.filter(bool), _TEXT, _TEXT.filter(bool), _TEXT)
def test_two_actors_never_share_a_saved_state_key(
    kind_a: str, key_a: str, kind_b: str, key_b: str
) -> None:
    """``ringpop-actor:<kind>:<key>`` gave kind 'a:b' key 'c' and kind 'a' key 'b:c' the
    same key: each loaded the other's state."""
    from ringpop.actors.runtime import _state_key

    same = _state_key(kind_a, key_a) == _state_key(kind_b, key_b)
    assert same == ((kind_a, key_a) == (kind_b, key_b))
    if ":" not in kind_a and "%" not in kind_a:  # unchanged where there was no clash
        assert _state_key(kind_a, key_a) == f"ringpop-actor:{kind_a}:{key_a}"


async def test_a_batch_carries_at_most_batch_bytes_but_one_message_of_any_size() -> None:
    """Large messages waiting together went as one batch a call could not carry, and
    every one of them failed."""
    import asyncio

    from ringpop.actors import wire
    from ringpop.actors.outbox import BATCH_BYTES, Outbox

    sent: list[list[int]] = []
    gate = asyncio.Event()

    async def deliver(
        kind: str, key: str, stream: str, first: int, payloads: list[bytes]
    ) -> list[wire.Result]:
        sent.append([len(p) for p in payloads])
        await gate.wait()
        return [wire.Result(wire.OK, b"") for _ in payloads]

    outbox = Outbox("10.0.0.1:1", deliver, capacity=100, max_batch=64)
    half = BATCH_BYTES // 2
    sizes = [10, half, half, half, 2 * BATCH_BYTES, 10, 10]
    sends = [asyncio.ensure_future(outbox.send("k", "key", b"x" * n)) for n in sizes]
    for _ in range(5):
        await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*sends)
    assert sent == [[10], [half, half], [half], [2 * BATCH_BYTES], [10, 10]]


def test_replies_no_call_can_carry_become_unencodable_largest_first() -> None:
    from ringpop.actors import wire
    from ringpop.actors.activation import _fitted

    ok = [wire.Result(wire.OK, b"a" * n) for n in (10, 500, 300, 20)]
    assert _fitted(ok, 1000) == ok
    fitted = _fitted(ok, 400)
    assert [r.status for r in fitted] == [wire.OK, wire.UNENCODABLE, wire.OK, wire.OK]
    assert b"500 bytes" in fitted[1].data
    assert [r.status for r in _fitted(ok, 100)] == [wire.OK, *[wire.UNENCODABLE] * 2, wire.OK]
