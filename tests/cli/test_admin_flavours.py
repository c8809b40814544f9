"""``ringpop admin partitions`` and ``checksums`` in a cluster of two checksum flavours.

A go-flavour node and a node-flavour one (spec §12.2) holding the same members are one
partition with two checksums; ``checksums`` names each node's flavour. Live: two
testpop processes, one per flavour, and (skipped without node) a ringpop-node beside
a default testpop.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from ringpop.admin.client import MemberRow, NodeStats
from ringpop.admin.views import flavour_of, view_of
from ringpop.cli import admin
from ringpop.membership import Member, Status, membership_checksum
from tests.cli import helpers
from tests.cli.helpers import admin_json, free_ports, start_each, stop, wait_for
from tests.nodeenv import INTEROP_NODE_DIR, interop_script, node_binary, node_modules_dir

ROWS = (
    MemberRow("127.0.0.1:3000", "alive", 11),
    MemberRow("127.0.0.1:30000", "suspect", 12),
    MemberRow("127.0.0.1:3001", "tombstone", 13),
)
MEMBERS = [Member(r.address, Status(r.status), r.incarnation) for r in ROWS]


def _stats(address: str, checksum: int, rows: Sequence[MemberRow] = ROWS) -> NodeStats:
    return NodeStats(address, checksum, None, tuple(rows), (), {})


def test_one_member_list_in_either_flavour_is_one_view() -> None:
    go = _stats("127.0.0.1:3000", membership_checksum(MEMBERS, "go"))
    node = _stats("127.0.0.1:30000", membership_checksum(MEMBERS, "node"), ROWS[::-1])
    assert go.membership_checksum != node.membership_checksum
    assert view_of(go) == view_of(node)  # order of the list and tombstones do not count
    assert [flavour_of(go), flavour_of(node)] == ["go", "node"]
    other = _stats("127.0.0.1:3001", 0, (*ROWS[:1], MemberRow("127.0.0.1:30000", "faulty", 12)))
    assert view_of(other) != view_of(go)
    assert flavour_of(other) is None  # neither flavour gives 0
    assert flavour_of(_stats("127.0.0.1:3002", 1, (MemberRow("a:1", "gone", 1),))) is None


def _one_view(capsys: pytest.CaptureFixture[str], addresses: list[str]) -> tuple[bool, str]:
    status = admin.main(["partitions", "--only", *addresses, "--json"])
    captured = capsys.readouterr()
    if status != 0:  # not answering yet
        return False, captured.err
    document = json.loads(captured.out)
    groups = [p["nodes"] for p in document["partitions"]]
    ok = groups == [sorted(addresses)] and document["partitions"][0]["alive"] == sorted(addresses)
    return ok, str(document)


@pytest.fixture(
    params=["testpop-node-flavour", "ringpop-node"],
    ids=["testpop-node-flavour", "ringpop-node"],
)
def two_flavours(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[list[str], dict[str, str]]]:
    """A default testpop (go) and a node-flavour node: ours with the flag or ringpop-node."""
    if request.param == "ringpop-node":
        node = node_binary()  # skips when node is not installed
        node_modules_dir()
        other: tuple[Sequence[str], Path | None] = (
            [node, str(interop_script("ringpop-node.js"))],
            INTEROP_NODE_DIR,
        )
    else:
        other = ([*helpers.testpop_argv(), "--checksum-flavour=node"], None)
    addresses = [f"127.0.0.1:{port}" for port in free_ports(2)]
    procs = start_each([(helpers.testpop_argv(), None), other], addresses, tmp_path)
    try:
        yield addresses, {addresses[0]: "go", addresses[1]: "node"}
    finally:
        stop(procs)


pytestmark = pytest.mark.cluster


def test_two_flavours_are_one_partition_with_two_checksums(
    two_flavours: tuple[list[str], dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    addresses, expected = two_flavours
    wait_for(lambda: _one_view(capsys, addresses), 20.0, "one member list on both nodes")
    partitions = admin_json(capsys, "partitions", addresses[0])
    [only] = partitions["partitions"]
    assert len(only["checksums"]) == 2
    checksums = admin_json(capsys, "checksums", addresses[1])
    assert {a: n["flavour"] for a, n in checksums["nodes"].items()} == expected
    assert {n["membership"] for n in checksums["nodes"].values()} == set(only["checksums"])

    assert admin.main(["partitions", addresses[1]]) == 0
    text = capsys.readouterr().out
    assert "1 partition" in text
    assert "checksum flavours differ" in text
    assert admin.main(["checksums", addresses[0]]) == 0
    text = capsys.readouterr().out
    assert "2 distinct membership checksums of 1 distinct member list" in text
    assert "flavour" in text
