"""tick-cluster's model: convergence verdicts, timings and events (no processes)."""

from __future__ import annotations

import socket

import pytest

from ringpop.admin.client import AdminError, MemberRow, NodeStats, parse_address, parse_stats
from ringpop.cli.clusterview import MISSES_BEFORE_DOWN, ClusterModel
from ringpop.cli.procs import PortsError, allocate_ports

A, B, C = "127.0.0.1:3000", "127.0.0.1:3001", "127.0.0.1:3002"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def stats(address: str, checksum: int, **statuses: str) -> NodeStats:
    """A node's stats; another checksum is another member list (incarnations)."""
    members = tuple(
        MemberRow(a, statuses.get(a.rsplit(":", 1)[1], "alive"), checksum) for a in (A, B, C)
    )
    return NodeStats(address, checksum, 7, members, (A, B, C), {})


def model_with(clock: FakeClock) -> ClusterModel:
    model = ClusterModel([A, B, C], clock=clock, wall=lambda: 0.0)
    for pid, address in enumerate((A, B, C), start=10):
        model.started(address, pid)
    return model


def kinds(model: ClusterModel) -> list[str]:
    return [e.kind for e in model.events]


def test_converges_when_all_agree_and_all_alive() -> None:
    clock = FakeClock()
    model = model_with(clock)
    clock.now += 1.0
    model.observe(A, stats(A, 1))
    model.observe(B, stats(B, 2))
    model.observe(C, AdminError(C, "/admin/stats", "unreachable", "refused"))
    verdict = model.end_round()
    assert not verdict.converged
    assert verdict.partitions == 2
    assert verdict.waiting == (C,)
    # differing checksums right after a change are gossip spreading, not a partition
    assert "2 membership views (gossip spreading)" in model.events[-1].text
    assert "partition" not in model.events[-1].text

    clock.now += 1.5
    for address in (A, B, C):
        model.observe(address, stats(address, 5))
    assert model.end_round().converged
    assert model.events[-1].kind == "converged"
    assert model.events[-1].text == "converged in 2.5 s: 3 nodes, checksum 5"
    assert model.status_line().startswith("converged in 2.5 s")
    assert kinds(model).count("up") == 3
    assert [e.seq for e in model.events] == list(range(1, len(model.events) + 1))


def test_kill_is_timed_from_the_action_and_needs_the_new_view() -> None:
    clock = FakeClock()
    model = model_with(clock)
    for address in (A, B, C):
        model.observe(address, stats(address, 5))
    model.end_round()
    clock.now += 10
    model.disturb()
    model.killed(C, "killed by tick-cluster")
    # Everyone still has the same checksum but C is alive in it: not converged.
    for address in (A, B):
        model.observe(address, stats(address, 5))
    verdict = model.end_round()
    assert not verdict.converged
    assert verdict.extra == (C,)
    assert "down but still alive" in model.status_line()
    clock.now += 0.75
    for address in (A, B):
        model.observe(address, stats(address, 6, **{"3002": "suspect"}))
    # suspect: still on every ring, requests for its keys still go there
    assert not model.end_round().converged
    assert "alive or suspect" in model.status_line()
    clock.now += 5.0
    for address in (A, B):
        model.observe(address, stats(address, 7, **{"3002": "faulty"}))
    assert model.end_round().converged
    assert model.events[-1].text == "converged in 5.8 s: 2 nodes, checksum 7"


def test_a_lasting_split_is_called_a_partition() -> None:
    clock = FakeClock()
    model = model_with(clock)
    for address in (A, B, C):
        model.observe(address, stats(address, 5))
    model.end_round()
    for _ in range(3):
        clock.now += 20
        model.observe(A, stats(A, 5))
        model.observe(B, stats(B, 5))
        model.observe(C, stats(C, 9))
        model.end_round()
    assert model.status_line().startswith("2 partitions for 40.0 s")


def test_one_missed_poll_is_not_an_event() -> None:
    clock = FakeClock()
    model = model_with(clock)
    for address in (A, B, C):
        model.observe(address, stats(address, 5))
    model.end_round()
    before = len(model.events)
    failure = AdminError(B, "/admin/stats", "timeout", "no answer within 1 s")
    for _ in range(MISSES_BEFORE_DOWN - 1):
        model.observe(A, stats(A, 5))
        model.observe(B, failure)
        model.observe(C, stats(C, 5))
        assert model.end_round().converged
    assert len(model.events) == before
    model.observe(B, failure)
    model.end_round()
    assert model.events[-2].text == f"{B} down: no answer within 1 s"
    assert model.events[-1].kind == "diverged"


def test_exit_before_answering_is_an_error_event() -> None:
    model = model_with(FakeClock())
    model.exited(A, "exited with status 1")
    assert model.events[-1].kind == "error"
    assert "before answering" in model.events[-1].text
    assert not model.nodes[A].expected


def test_parse_stats_tolerates_node_and_go_shapes() -> None:
    document = {
        "membership": {
            "checksum": 9,
            "members": [
                {"address": B, "status": "suspect", "incarnationNumber": 2, "dampScore": 0},
                {"address": A, "status": "alive", "incarnationNumber": 1, "labels": {"x": "y"}},
                "junk",
            ],
        },
        "ring": {"checksum": 3, "servers": [B, A]},
    }
    parsed = parse_stats(A, document)
    assert [m.address for m in parsed.members] == [A, B]
    assert parsed.own is not None
    assert parsed.own.labels == {"x": "y"}
    assert parsed.members[1].damp_score == 0
    assert parsed.counts()["suspect"] == 1
    assert parsed.ring_servers == (A, B)
    with pytest.raises(ValueError, match="membership"):
        parse_stats(A, {"ring": {}})


def test_parse_address() -> None:
    assert parse_address("3000") == "127.0.0.1:3000"
    assert parse_address("localhost:3001") == "127.0.0.1:3001"
    assert parse_address("10.0.0.1:1") == "10.0.0.1:1"
    for bad in ("host:1", "1.2.3.4", "1.2.3.4:99999", ""):
        with pytest.raises(ValueError, match="not a node address"):
            parse_address(bad)


def test_allocate_ports() -> None:
    ports = allocate_ports(3, 0)
    assert len(set(ports)) == 3
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(PortsError, match=f"port {port} on 127.0.0.1 already in use"):
            allocate_ports(1, port)
        # Without an explicit base, a busy default range moves up.
        moved = allocate_ports(2, None, default_base=port)
        assert port not in moved
        assert moved[0] > port
        assert moved[1] == moved[0] + 1


def test_example_http_ports() -> None:
    import argparse

    from ringpop.cli.tickargs import HTTP_PORT_OFFSET, _ports

    def args(base: int | None, example: str | None = "kv") -> argparse.Namespace:
        return argparse.Namespace(size=2, base_port=base, example=example)

    assert _ports(args(None, example=None))[1] is None
    ports, http = _ports(args(0))
    assert http is not None
    assert len(set(ports + http)) == 4
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        base = taken - HTTP_PORT_OFFSET
        if base < 1024:
            pytest.skip("ephemeral port too low for this check")
        # An explicit base whose HTTP port is busy is an error naming it (the next one
        # may be busy too, with another process's ephemeral port: then both are named)...
        with pytest.raises(PortsError, match=rf"HTTP ports? {taken}[ ,]"):
            _ports(args(base))
        # ...while the default moves on to a run where both are free.
        ports, http = _ports(argparse.Namespace(size=2, base_port=None, example="kv"))
        assert http == [p + HTTP_PORT_OFFSET for p in ports]
        assert taken not in http
