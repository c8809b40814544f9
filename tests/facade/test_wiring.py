"""One wiring for production and simulation, and the public surface.

* a simulated node (``ringpop.testing``) is built by the production constructor and
  has the same parts and serves the same endpoints as a real one on TCP;
* the library never imports ``ringpop.testing``;
* the facade's stats go through the event bus (same keys and values as before);
* every channel tunable is reachable from ``Options``;
* one error base, ``RingpopError``, exported from ``ringpop`` with the other names.
"""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

import ringpop
import ringpop.events
from ringpop import Options, Ringpop, RingpopError
from ringpop.events import OwnershipChanged, RingChanged, ServerAdded
from ringpop.stats import MemoryBackend
from ringpop.tchannel import Channel
from ringpop.testing import MemoryNetwork, MemoryTransport, SimCluster
from ringpop.transport import Transport

SRC = Path(ringpop.__file__).resolve().parent


def _parts(rp: Ringpop) -> dict[str, type | None]:
    damper = rp.damper
    return {
        "node": type(rp.node),
        "ring": type(rp.node.ring),
        "healer": type(rp.healer),
        "fast-heal": type(rp.healer.fast),
        "damper": None if damper is None else type(damper),
        "proxy": type(rp.proxy),
        "forwarder": type(rp.forwarder),
        "network": type(rp.node.network),
        "stats": type(rp.node.stats),
    }


def _endpoints(transport: Transport) -> set[tuple[str, str]]:
    if isinstance(transport, Channel):
        return {(service, arg1.decode()) for service, arg1 in transport.handlers}
    assert isinstance(transport, MemoryTransport)
    return set(transport.endpoints)


async def test_a_simulated_node_has_the_parts_and_endpoints_of_a_real_one() -> None:
    real = Ringpop("ringpop", "127.0.0.1:0")
    await real.start()
    cluster = SimCluster(3, seed=3)
    try:
        await cluster.bootstrap()
        assert real.channel.host_port.startswith("127.0.0.1:")
        assert isinstance(real.channel, Channel)
        for address, simulated in cluster.ringpops.items():
            assert type(simulated) is Ringpop
            assert simulated.channel is cluster.transports[address]
            assert _parts(simulated) == _parts(real)
            assert _endpoints(simulated.channel) == _endpoints(real.channel)
        endpoints = _endpoints(real.channel)
        # What the hand-wired simulator used to leave out is there: damping, forwarding,
        # admin and tracing.
        for endpoint in ("/protocol/damp-req", "/proxy/req", "/admin/stats", "/trace/add"):
            assert ("ringpop", endpoint) in endpoints
        assert all(d._started for d in cluster.dampers.values())  # started by bootstrap()
    finally:
        await cluster.stop()
        await real.close()


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


SIMULATOR_FRONT_ENDS = {Path("cli") / "simulate.py"}
"""``ringpop simulate`` runs the simulator itself: its one reason to exist. The
dispatcher imports it only when that command runs (checked below at run time)."""


def test_the_library_never_imports_ringpop_testing() -> None:
    offenders = []
    library = [
        p
        for p in SRC.rglob("*.py")
        if "testing" not in p.relative_to(SRC).parts
        and p.relative_to(SRC) not in SIMULATOR_FRONT_ENDS
    ]
    assert len(library) > 50
    for path in library:
        for name in _imports(path):
            if name == "ringpop.testing" or name.startswith("ringpop.testing."):
                offenders.append(f"{path.relative_to(SRC)}: {name}")
    assert offenders == []
    # And at run time: the facade, the CLI, state and the integrations load without it.
    code = (
        "import sys, ringpop.ringpop, ringpop.cli.main, ringpop.cli.testpop, ringpop.cli.simulate, "
        "ringpop.state, "
        "ringpop.integrations.asgi, ringpop.integrations.lifecycle\n"
        "print('ringpop.testing' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_probe_finds_an_import_of_ringpop_testing(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from ringpop.testing import SimCluster\nimport ringpop.testing.memnet\n")
    assert "ringpop.testing" in _imports(sample)
    assert "ringpop.testing.memnet" in _imports(sample)


async def test_ring_stats_come_from_events_with_the_same_keys() -> None:
    network = MemoryNetwork(latency=0.001)
    backends = [MemoryBackend(), MemoryBackend()]
    hosts = ["10.1.0.1:3000", "10.1.0.2:3000"]
    nodes = [
        Ringpop("stats", transport=network.transport(a), stats_backend=b)
        for a, b in zip(hosts, backends, strict=True)
    ]
    try:
        await asyncio.gather(*(rp.bootstrap(hosts) for rp in nodes))
        for rp, backend in zip(nodes, backends, strict=True):
            # The ring of one at start, then the other member: two changes, two servers.
            assert backend.counters["ring.changed"] == 2
            assert backend.counters["ring.checksum-computed"] == 2
            assert backend.counters["ring.server-added"] == 2
            assert "ring.server-removed" not in backend.counters
            assert backend.gauges["ring.servers"] == 2
            assert backend.gauges["ring.checksum"] == rp.node.ring.checksum
            # The recorder wants the events that count, and only those.
            assert rp.events.wants(RingChanged)
            assert rp.events.wants(ServerAdded)
            assert not rp.events.wants(OwnershipChanged)
    finally:
        await asyncio.gather(*(rp.close(self_evict=False) for rp in nodes))


async def test_channel_tunables_come_from_options() -> None:
    options = Options(connect_timeout=1.25, drain_timeout=0.0, max_arg_size=1 << 20)
    rp = Ringpop("tunables", "127.0.0.1:0", options=options)
    channel = rp.channel
    assert isinstance(channel, Channel)
    assert channel.options.connect_timeout == 1.25
    assert channel.options.drain_timeout == 0.0
    assert channel.options.max_arg_size == 1 << 20
    assert channel.options.init_timeout == options.init_timeout
    assert channel.options.stale_period == options.stale_period
    default = Ringpop("tunables", "127.0.0.1:0").channel
    assert isinstance(default, Channel)
    assert default.options.connect_timeout == Options().connect_timeout == 3.0
    assert default.options.drain_timeout == Options().drain_timeout == 5.0


def test_listen_or_transport_exactly_one() -> None:
    with pytest.raises(ValueError, match="either listen"):
        Ringpop("app")
    with pytest.raises(ValueError, match="either listen"):
        Ringpop("app", "10.0.0.1:1", transport=MemoryNetwork().transport("10.0.0.1:1"))


@pytest.mark.parametrize(
    ("listen", "why"),
    [
        (3000, "ipv4:port string, got 3000"),  # was AttributeError: 'int' has no 'split'
        ("localhost:3000", "expected an IPv4 address"),
        ("127.0.0.1", "expected host_port to be ipv4:port"),
    ],
)
async def test_a_listen_address_that_is_not_ipv4_port_says_so(listen: object, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        await Ringpop("app", listen).start()  # type: ignore[arg-type]


def test_options_may_be_a_mapping_and_other_types_are_refused() -> None:
    """A dict was an AttributeError ('dict' has no 'label_max_key_size'), and
    ``ownership_n="3"`` a TypeError comparing str and int."""
    from ringpop.options import OptionsError

    rp = Ringpop("app", "127.0.0.1:0", options={"ping_timeout": 1.0})
    assert rp.options == Options(ping_timeout=1.0)
    with pytest.raises(OptionsError, match="ping_timeout must be a positive"):
        Ringpop("app", "127.0.0.1:0", options={"ping_timeout": -1})
    with pytest.raises(OptionsError, match="unknown option"):
        Ringpop("app", "127.0.0.1:0", options={"pingtimeout": 1})
    with pytest.raises(TypeError, match="options must be an Options or a mapping"):
        Ringpop("app", "127.0.0.1:0", options=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ownership_n must be a whole number >= 1, not '3'"):
        Ringpop("app", "127.0.0.1:0", ownership_n="3")  # type: ignore[arg-type]


def test_one_error_base_keeps_the_other_bases() -> None:
    from ringpop.discovery import DiscoveryError
    from ringpop.forward.http import ProxyError
    from ringpop.forward.tchannel import ForwardError
    from ringpop.integrations import UnmatchedKeyError
    from ringpop.membership.heal import HealError
    from ringpop.membership.join import BootstrapError
    from ringpop.membership.labels import LabelError
    from ringpop.membership.limits import LimitError
    from ringpop.membership.network import CallError, RemoteError
    from ringpop.membership.node import SelfEvictionError
    from ringpop.messages import MessageError
    from ringpop.options import OptionsError
    from ringpop.ringpop import NotReadyError
    from ringpop.state.hlc import ClockDriftError
    from ringpop.state.replicator import QuorumError
    from ringpop.state.transfer import TransferError
    from ringpop.tchannel import CallTimeoutError, TChannelError
    from ringpop.tlsconfig import TLSError
    from ringpop.trace.options import TraceOptionError
    from ringpop.trace.registry import TraceLimitError

    errors: list[type[Exception]] = [
        BootstrapError,
        CallError,
        CallTimeoutError,
        ClockDriftError,
        DiscoveryError,
        ForwardError,
        HealError,
        LabelError,
        LimitError,
        MessageError,
        NotReadyError,
        OptionsError,
        ProxyError,
        QuorumError,
        RemoteError,
        SelfEvictionError,
        TChannelError,
        TLSError,
        TraceLimitError,
        TraceOptionError,
        TransferError,
        UnmatchedKeyError,
    ]
    assert [e.__name__ for e in errors if not issubclass(e, RingpopError)] == []
    # The other bases stay, so existing except clauses keep working.
    assert issubclass(OptionsError, ValueError)
    assert issubclass(LabelError, ValueError)
    assert issubclass(BootstrapError, RuntimeError)
    assert issubclass(NotReadyError, RuntimeError)
    assert issubclass(CallTimeoutError, TimeoutError)
    assert issubclass(UnmatchedKeyError, LookupError)
    with pytest.raises(RingpopError):
        Options(ping_timeout=-1)


def test_the_root_exports_errors_events_and_options() -> None:
    exported = set(ringpop.__all__)
    # The lazy map, __all__ and the TYPE_CHECKING imports (checked by ruff and mypy)
    # spell the same names: static tools cannot read a computed __all__.
    assert set(ringpop._LAZY) | {"__version__"} == exported
    for name in exported:
        assert getattr(ringpop, name) is not None
    assert set(ringpop.events.__all__) <= exported
    assert {"RingpopError", "Options", "OptionsError", "Ringpop", "Transport"} <= exported
    for name in exported - {"__version__"}:
        value = getattr(ringpop, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, RingpopError), name
