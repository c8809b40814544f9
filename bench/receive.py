"""Receiving benchmark (issue 11): what the receiving rules cost on the ping hot path.

For well-formed ping bodies, the strict decoder (``ringpop.messages.decode``, what the
handlers used before) against ``ringpop.receiving.receive`` (strict first, lenient
only on failure); then the lenient path itself: ringpop-common's ``checksum: null``
and join responses, and worst-case lists of 100 000 entries. Best process (CPU) time
of many alternating repetitions, since the machine may be shared. Run: ``.venv/bin/python
bench/receive.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import time
import timeit
from collections.abc import Callable
from functools import partial
from typing import Any

from ringpop.messages import MAX_CHANGES, Change, PingRequest, PingResponse, decode, encode
from ringpop.receiving import receive

INC = 1414142122274


def changes(count: int) -> list[Change]:
    return [
        Change(
            id="6f1c3e1a-0000-4000-8000-000000000000",
            source="127.0.0.1:3000",
            source_incarnation_number=INC,
            address=f"127.0.0.1:{3001 + i}",
            status="alive",
            incarnation_number=INC + i,
        )
        for i in range(count)
    ]


def ping(count: int) -> bytes:
    request = PingRequest(
        checksum=3184296888,
        changes=changes(count),
        source="127.0.0.1:3001",
        source_incarnation_number=INC,
        app="ringpop",
    )
    return encode(request)


def per_call_ns(fn: Callable[[], object], number: int, repeat: int) -> float:
    """Best CPU time per call (process time: other processes' load counts less)."""
    timer = timeit.Timer(fn, timer=time.process_time)
    return min(timer.repeat(number=number, repeat=repeat)) / number * 1e9


def compare_ns(
    first: Callable[[], object], second: Callable[[], object], number: int, repeat: int
) -> tuple[float, float]:
    """Best per-call times of two functions, measured in alternation."""
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for index, fn in enumerate((first, second)):
            best[index] = min(best[index], per_call_ns(fn, number, 1))
    return best[0], best[1]


def once_ms(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        fn()
        best = min(best, time.process_time() - started)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    number, repeat = (5_000, 5) if args.quick else (5_000, 80)

    print("well-formed pings, ns per message   strict decode   receive   overhead")
    bodies: dict[str, tuple[bytes, type[Any]]] = {
        "ping, 0 changes": (ping(0), PingRequest),
        "ping, 3 changes": (ping(3), PingRequest),
        "ping response, 3 changes": (encode(PingResponse(changes=changes(3))), PingResponse),
    }
    for name, (body, kind) in bodies.items():
        strict, liberal = compare_ns(
            partial(decode, body, kind), partial(receive, body, kind), number, repeat
        )
        print(f"  {name:33s} {strict:13.0f} {liberal:9.0f} {liberal - strict:+10.0f}")

    print("lenient path, ns per message")
    null_checksum = b'{"changes":[],"checksum":null,"source":"127.0.0.1:3001"}'
    cost = per_call_ns(partial(receive, null_checksum, PingResponse), number, repeat)
    print(f"  {'ping response, checksum null':33s} {cost:13.0f}")

    print("worst cases, ms per message (100 000 entries)")
    good: dict[str, Any] = {"address": "127.0.0.1:1", "status": "alive", "incarnationNumber": 1}
    lists: dict[str, list[Any]] = {
        "all good (strict path)": [good] * MAX_CHANGES,
        "all good but the last": [good] * (MAX_CHANGES - 1) + [{**good, "incarnationNumber": -1}],
        "all dropped (bad incarnation)": [{**good, "incarnationNumber": -1}] * MAX_CHANGES,
        "all repaired (source null)": [{**good, "source": None}] * MAX_CHANGES,
        "all dropped (not objects)": [7] * MAX_CHANGES,
    }
    for name, entries in lists.items():
        body = json.dumps({"changes": entries}).encode()
        cost = once_ms(partial(receive, body, PingResponse), 3 if args.quick else 7)
        print(f"  {name:33s} {cost:10.1f}   ({len(body) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
