"""Network namespaces for fault tests: hosts on a private bridge, faults made with nftables.

A :class:`Fabric` is one switch namespace holding a bridge, plus one namespace per host,
each joined to the bridge by a veth pair and given an address of 198.18.0.0/24 (the
benchmark-testing range; nothing else is ever configured). The switch namespace also
gets an address on the bridge (``.254``): the observer process runs there. The root
namespace is never changed.

Faults are nftables rules inside the host namespaces, all in one table per host
(``inet rpfault``), rewritten atomically (``nft -f``) from :class:`Fabric`'s state:

* ``block(dst, srcs)`` drops packets arriving at ``dst`` from ``srcs`` (a symmetric
  partition is two such blocks; an asymmetric one is one);
* ``set_loss(pct)`` drops that share of packets between hosts, at random;
* ``slow(host, port, relay_port)`` sends the host's TChannel traffic, inbound and
  outbound, through a delaying relay in its namespace (see ``tests.faults.relay``).

Only traffic between hosts is ever dropped: the observer's address is never in a rule.
Every namespace name starts with a per-run prefix (``rpf-<pid>-``);
:meth:`Fabric.close` (also registered with :mod:`atexit`) deletes them all, and
:func:`cleanup_stale` removes leftovers of dead runs of this harness (prefix ``rpf-``
with a PID that no longer exists). Deleting a namespace deletes its veth ends and,
for the switch, its bridge.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "SUBNET",
    "Fabric",
    "FabricError",
    "Host",
    "cleanup_stale",
    "missing_tools",
]

SUBNET = ipaddress.ip_network("198.18.0.0/24")
"""Host addresses (inside our own namespaces only): .1 .. .N; the observer is .254."""
OBSERVER_INDEX = 254
PREFIX = "rpf-"
TABLE = "rpfault"
NAT_TABLE = "rpfnat"
RELAY_MARK = 0x5250
"""Packet mark of the relay's own connections (the redirect rules skip them)."""
COMMAND_TIMEOUT_S = 10.0


class FabricError(RuntimeError):
    """A namespace, link or nftables command failed."""


def missing_tools() -> str | None:
    """Why fault tests cannot run here (not root, no ``ip netns``, no ``nft``), or ``None``."""
    if os.geteuid() != 0:
        return "fault tests need root (network namespaces and nftables)"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            return f"fault tests need `{tool}` (install the {package} package)"
    try:
        probe = subprocess.run(
            ["ip", "netns", "list"], capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"`ip netns list` failed: {error}"
    if probe.returncode != 0:
        return f"`ip netns` is not usable: {probe.stderr.decode(errors='replace').strip()}"
    return None


def run(argv: Sequence[str], *, stdin: str | None = None) -> str:
    """Run a command (bounded); its stdout, or :class:`FabricError` with its stderr."""
    try:
        done = subprocess.run(
            list(argv),
            input=None if stdin is None else stdin.encode(),
            capture_output=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise FabricError(f"{' '.join(argv)}: no answer within {COMMAND_TIMEOUT_S:g} s") from None
    if done.returncode != 0:
        raise FabricError(
            f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.decode(errors='replace')}"
        )
    return done.stdout.decode(errors="replace")


def list_namespaces() -> list[str]:
    """Names of every network namespace (``ip netns list``)."""
    return [line.split()[0] for line in run(["ip", "netns", "list"]).splitlines() if line.strip()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_processes_in(namespace: str) -> None:
    """SIGKILL, by PID, every process still in ``namespace`` (one of ours)."""
    try:
        pids = [int(p) for p in run(["ip", "netns", "pids", namespace]).split()]
    except (FabricError, ValueError):
        return
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def cleanup_stale() -> list[str]:
    """Delete namespaces left by dead runs of this harness (``rpf-<pid>-*``); their names.

    Processes still running in them (nodes of a run that was killed) are killed first.
    """
    removed: list[str] = []
    pattern = re.compile(rf"^{re.escape(PREFIX)}(\d+)-")
    for name in list_namespaces():
        match = pattern.match(name)
        if match is None or _pid_alive(int(match.group(1))):
            continue
        kill_processes_in(name)
        try:
            run(["ip", "netns", "delete", name])
            removed.append(name)
        except FabricError:
            pass
    return removed


@dataclass(frozen=True)
class Host:
    """One host: its namespace and address."""

    index: int
    name: str
    namespace: str
    ip: str

    def exec_argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this host's namespace (``ip netns exec`` execs in place)."""
        return ["ip", "netns", "exec", self.namespace, *argv]


@dataclass
class _Rules:
    """The fault state of one host (what its nftables table says)."""

    blocked_from: set[str] = field(default_factory=set)
    loss_pct: int = 0
    slow: tuple[int, int] | None = None  # (service port, relay port)


class Fabric:
    """Namespaces, bridge, addresses and nftables faults for ``count`` hosts.

    Use as a context manager, or call :meth:`close`; it is also closed at exit.
    ``tag`` makes the prefix unique when one process builds several fabrics at once.
    """

    def __init__(self, count: int, *, tag: str = "") -> None:
        if not 1 <= count < OBSERVER_INDEX:
            raise ValueError(f"host count must be 1..{OBSERVER_INDEX - 1}")
        self.prefix = f"{PREFIX}{os.getpid()}-{tag}"
        self.switch = f"{self.prefix}sw"
        self.observer_ip = str(SUBNET.network_address + OBSERVER_INDEX)
        self.hosts: list[Host] = [
            Host(i, f"n{i}", f"{self.prefix}n{i}", str(SUBNET.network_address + i))
            for i in range(1, count + 1)
        ]
        self._rules: dict[str, _Rules] = {h.name: _Rules() for h in self.hosts}
        self._created: list[str] = []
        self._closed = False
        atexit.register(self.close)
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    # -- life cycle ----------------------------------------------------------------

    def _add_namespace(self, name: str) -> None:
        run(["ip", "netns", "add", name])
        self._created.append(name)
        run(["ip", "-n", name, "link", "set", "lo", "up"])

    def _build(self) -> None:
        prefixlen = SUBNET.prefixlen
        self._add_namespace(self.switch)
        sw = ["ip", "-n", self.switch]
        run([*sw, "link", "add", "br0", "type", "bridge"])
        run([*sw, "addr", "add", f"{self.observer_ip}/{prefixlen}", "dev", "br0"])
        run([*sw, "link", "set", "br0", "up"])
        for host in self.hosts:
            self._add_namespace(host.namespace)
            port = f"v{host.index}"
            # Created directly in the switch namespace, its peer directly in the host's.
            run(
                [
                    *sw,
                    "link",
                    "add",
                    port,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    host.namespace,
                ]
            )
            run([*sw, "link", "set", port, "master", "br0"])
            run([*sw, "link", "set", port, "up"])
            hn = ["ip", "-n", host.namespace]
            run([*hn, "addr", "add", f"{host.ip}/{prefixlen}", "dev", "eth0"])
            run([*hn, "link", "set", "eth0", "up"])
            self._apply(host)

    def close(self) -> None:
        """Delete every namespace this fabric created (idempotent, never raises)."""
        if self._closed:
            return
        self._closed = True
        for name in reversed(self._created):
            kill_processes_in(name)
            with contextlib.suppress(FabricError):
                run(["ip", "netns", "delete", name])
        self._created.clear()

    def __enter__(self) -> Fabric:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- addressing ----------------------------------------------------------------

    def host(self, name: str) -> Host:
        """The host called ``name`` (``n1``...)."""
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)

    def observer_argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run in the switch namespace (where the observer lives)."""
        return ["ip", "netns", "exec", self.switch, *argv]

    # -- faults ----------------------------------------------------------------------

    def block(self, dst: Iterable[Host], srcs: Iterable[Host]) -> None:
        """Drop packets arriving at every host of ``dst`` from every host of ``srcs``."""
        sources = [s.ip for s in srcs]
        for host in dst:
            self._rules[host.name].blocked_from.update(ip for ip in sources if ip != host.ip)
            self._apply(host)

    def partition(self, *groups: Sequence[Host]) -> None:
        """Hosts of different groups cannot talk at all (both directions dropped)."""
        for i, group in enumerate(groups):
            others = [h for j, g in enumerate(groups) if j != i for h in g]
            self.block(group, others)

    def set_loss(self, pct: int, hosts: Iterable[Host] | None = None) -> None:
        """Drop ``pct`` % of the packets arriving at ``hosts`` (default all) from other hosts."""
        if not 0 <= pct <= 100:
            raise ValueError("loss is a percentage")
        for host in self.hosts if hosts is None else hosts:
            self._rules[host.name].loss_pct = pct
            self._apply(host)

    def slow(self, host: Host, port: int, relay_port: int) -> None:
        """Send ``host``'s TCP traffic to and from ``port`` of other hosts through its relay.

        Inbound connections from other hosts to ``host``:``port`` and outbound ones from
        ``host`` to other hosts' ``port`` are redirected to ``relay_port`` in ``host``'s
        namespace; the relay's own connections (mark :data:`RELAY_MARK`) are not.
        """
        self._rules[host.name].slow = (port, relay_port)
        self._apply(host)

    def heal(self) -> None:
        """Remove every drop rule (partitions and loss); a slow link stays."""
        for host in self.hosts:
            rules = self._rules[host.name]
            if rules.blocked_from or rules.loss_pct:
                rules.blocked_from.clear()
                rules.loss_pct = 0
                self._apply(host)

    def unslow(self, host: Host) -> None:
        """Take ``host``'s relay off the path (new connections go direct)."""
        self._rules[host.name].slow = None
        self._apply(host)

    def ruleset(self, host: Host) -> str:
        """The nftables script that puts ``host``'s fault state in place."""
        rules = self._rules[host.name]
        peers = sorted(h.ip for h in self.hosts if h.ip != host.ip)
        lines = [
            f"table inet {TABLE}",
            f"delete table inet {TABLE}",
            f"table inet {TABLE} {{",
            "  chain input {",
            "    type filter hook input priority 0; policy accept;",
        ]
        if rules.blocked_from:
            lines.append(f"    ip saddr {{ {', '.join(sorted(rules.blocked_from))} }} drop")
        if rules.loss_pct and peers:
            pct, srcs = rules.loss_pct, ", ".join(peers)
            lines.append(f"    ip saddr {{ {srcs} }} numgen random mod 100 < {pct} drop")
        lines += ["  }", "}"]
        lines += [f"table ip {NAT_TABLE}", f"delete table ip {NAT_TABLE}"]
        if rules.slow is not None and peers:
            port, relay = rules.slow
            others = ", ".join(peers)
            lines += [
                f"table ip {NAT_TABLE} {{",
                "  chain pre {",
                "    type nat hook prerouting priority -100; policy accept;",
                f"    ip saddr {{ {others} }} ip daddr {host.ip} tcp dport {port} "
                f"redirect to :{relay}",
                "  }",
                "  chain out {",
                "    type nat hook output priority -100; policy accept;",
                f"    meta mark != {RELAY_MARK:#x} ip daddr {{ {others} }} tcp dport {port} "
                f"redirect to :{relay}",
                "  }",
                "}",
            ]
        return "\n".join(lines) + "\n"

    def _apply(self, host: Host) -> None:
        run(host.exec_argv(["nft", "-f", "-"]), stdin=self.ruleset(host))
