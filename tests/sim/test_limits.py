"""Bounded input through the protocol handlers: refused before it touches state."""

from __future__ import annotations

import pytest

from ringpop.membership.network import RemoteError
from ringpop.membership.protocol import protocol_handlers
from ringpop.messages import Change, PingRequest, PingResponse, decode, encode
from ringpop.options import Options
from ringpop.testing import SimCluster

pytestmark = pytest.mark.looptime(noop_cycles=1)

PEER = "10.9.0.1:3000"


def _ping(node_checksum: int, changes: list[Change]) -> bytes:
    return encode(
        PingRequest(
            checksum=node_checksum,
            changes=changes,
            source=PEER,
            source_incarnation_number=1,
            app="ringpop",
        )
    )


async def test_limits_on_pings() -> None:
    options = Options(max_members=5, max_changes_per_message=8, max_message_bytes=4096)
    cluster = SimCluster(2, options=options)
    await cluster.bootstrap()
    node = cluster.nodes[cluster.addresses[0]]
    ping = protocol_handlers(node)["/protocol/ping"]
    before = [(m.address, m.status, m.incarnation) for m in node.members]

    # Too many changes: refused whole, nothing applied.
    many = [Change(address=f"10.9.1.{i}:1", status="alive", incarnation_number=1) for i in range(9)]
    with pytest.raises(RemoteError) as too_many:
        await ping(_ping(node.checksum, many))
    assert too_many.value.type == "ringpop.limit.changes"
    assert [(m.address, m.status, m.incarnation) for m in node.members] == before

    # Too large: refused before decoding.
    with pytest.raises(RemoteError) as too_big:
        await ping(b" " * 5000)
    assert too_big.value.type == "ringpop.limit.message-bytes"

    # Within the count, but the member cap (5) admits only 3 of 6 new members and
    # a change with oversized labels is dropped.
    some = [
        *many[:6],
        Change(address="10.9.2.1:1", status="alive", incarnation_number=1, labels={"k" * 40: "v"}),
    ]
    answer = decode(await ping(_ping(node.checksum, some)), PingResponse)
    assert len(node.members) == 5
    assert node.guard.refused == {
        "changes": 1,
        "message-bytes": 1,
        "members": 3,
        "labels": 1,
    }
    assert all(c.address != "10.9.2.1:1" for c in answer.changes)
    await cluster.stop()
