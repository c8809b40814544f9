"""Send cases to one long-running target (ringpop-node or testpop) and observe it.

A :class:`Target` is a real process (started through :class:`tests.cluster.procs.Cluster`,
stopped by PID) bootstrapped with an *anchor*: a scripted fake (our own TChannel
:class:`~ringpop.tchannel.Channel`, the real transport) that answers joins, pings and
ping-reqs normally. Gossip is then stopped (``/admin/gossip/stop``) so that the
membership changes only through the cases; every case uses fresh fake addresses, so
cases do not interfere although the process is reused.

For each case :meth:`Target.run` delivers the message (see :mod:`.cases` for how each
kind reaches the target), then checks that the target keeps working (the process
runs, ``/admin/stats`` answers and shows itself and the anchor alive, and a normal
ping from the anchor is answered) and reads the membership of the case's addresses,
normalised (the target's own address becomes ``<target>``, its incarnation
``same``/``bumped``) so the two targets can be compared. A target that died or stopped
answering is restarted on a new port before the next case.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from ringpop.tchannel import CallTimeoutError, Channel, Request, Response, TChannelError
from tests.cluster.procs import Cluster, Kind, NodeProc, allocate_ports, write_hosts
from tests.interop.differential.cases import BASE_INC, ENDPOINTS, Case
from tests.interop.differential.rules import SELF, State, violations
from tests.interop.differential.template import materialise, placeholders, to_bytes

__all__ = ["FakeAddresses", "Outcome", "Target"]

SERVICE: Final = "ringpop"
CALL_TIMEOUT: Final = 3.0
PROXY_TIMEOUT: Final = 0.5
"""ringpop-node hands a valid /proxy/req to its application; main.js has none, so the
call never gets an answer: such cases end in a timeout this long."""
HEAL_TIMEOUT: Final = 5.0
START_TIMEOUT: Final = 20.0
SPARES: Final[dict[Kind, int]] = {"node": 3, "python": 1}
"""Processes kept ready to replace a target that stopped working, by kind. ringpop-node
crashes on about a tenth of the cases, often several in a row: with one spare, each
crash after the first waited for a whole node start (half of the suite's time)."""
PROXY_BODY: Final = b"differential body"
_SENDS: Final = 64 << 20
"""The harness's own max_arg_size: a channel does not send what it would refuse, and
the cases above the 16 MiB limit are there to be sent to the node under test."""
_PLACEHOLDER_FAKES: Final = ("fake0", "fake1", "fake2", "fake3")
_ADDRESS_NAMES: Final = frozenset({*_PLACEHOLDER_FAKES, "responder"})


@dataclass(slots=True)
class Outcome:
    """What one target did with one case."""

    accepted: bool
    detail: str
    """``ok``, ``error:<type>``, ``pingStatus=false``, ``healed=[]``, ``timeout``,
    ``transport:<error class>`` or ``crashed``."""
    working: bool
    working_detail: str
    membership: dict[str, Any] = field(default_factory=dict)
    """Normalised: placeholder name -> ``[status, incarnation]`` or ``None``."""
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0
    """How long delivering and observing took (restarts not included)."""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class FakeAddresses:
    """Fresh ``127.0.0.1`` addresses nobody listens on (ports above the ephemeral range)."""

    def __init__(self, first_port: int = 61000) -> None:
        self._ports = itertools.count(first_port)

    def take(self, case: Case | None = None) -> dict[str, str]:
        """Bindings of the ``fake0`` ... ``fake3`` placeholders ``case`` uses."""
        used = placeholders(case.message) if case is not None else set()
        found = {}
        for name in sorted(used & set(_PLACEHOLDER_FAKES)):
            port = next(self._ports)
            if port > 65535:
                raise RuntimeError("ran out of fake ports")
            found[name] = f"127.0.0.1:{port}"
        return found


def _members(stats: Any) -> dict[str, State]:
    """address -> (status, incarnation) as ``/admin/stats`` shows them, whatever they are
    (ringpop-node keeps members without an address or with a string incarnation)."""
    found: dict[str, State] = {}
    for member in stats["membership"]["members"]:
        address = member.get("address")
        key = address if isinstance(address, str) else f"<non-string {json.dumps(address)}>"
        found[key] = (str(member.get("status")), member.get("incarnationNumber"))
    return found


def _error_type(response: Response) -> str:
    try:
        body = json.loads(response.arg3) if response.arg3.strip() else None
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("type"), str):
        return str(body["type"])
    return "untyped"


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


class _Responder:
    """A fresh scripted fake: answers one endpoint with the case's body, the rest normally."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.body = b""
        self.channel = Channel(
            "127.0.0.1:0", drain_timeout=0.0, process_name="differential", max_arg_size=_SENDS
        )
        self.address = ""

    async def start(self) -> str:
        for endpoint in ("/protocol/join", "/protocol/ping"):
            self.channel.register(SERVICE, endpoint, self._serve)
        self.address = await self.channel.listen()
        return self.address

    async def _serve(self, request: Request) -> Response:
        if request.endpoint == self.endpoint:
            return Response(b"", self.body)
        return Response.from_json({"changes": []})

    async def close(self) -> None:
        await self.channel.close(drain_timeout=0.0)


class Target:
    """One ringpop process of ``kind`` under test, with its anchor and client."""

    def __init__(self, kind: Kind, cluster: Cluster, workdir: Path) -> None:
        self.kind = kind
        self.cluster = cluster
        self.workdir = workdir
        self.anchor = Channel(
            "127.0.0.1:0", drain_timeout=0.0, process_name="anchor", max_arg_size=_SENDS
        )
        self.client = Channel(drain_timeout=0.0, max_arg_size=_SENDS)
        self.anchor_address = ""
        self.proc: NodeProc | None = None
        self.address = ""
        self.hosts = workdir / "unused"
        self.members: dict[str, State] = {}
        self.ring_checksum = 0
        self.checksum = 0
        self.restarts = 0
        self._spares: deque[asyncio.Task[tuple[NodeProc, Path]]] = deque()

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Start the anchor and the process; wait until it is ready (gossip stopped)."""
        if not self.anchor_address:
            self.anchor.register(SERVICE, "/protocol/join", self._anchor_join)
            self.anchor.register(SERVICE, "/protocol/ping", self._anchor_ping)
            self.anchor.register(SERVICE, "/protocol/ping-req", self._anchor_ping_req)
            self.anchor_address = await self.anchor.listen()
        await self._adopt(*await self._launch())
        self._keep_spares()

    async def _launch(self) -> tuple[NodeProc, Path]:
        """A new process bootstrapped with the anchor, ready, its gossip stopped."""
        address = f"127.0.0.1:{allocate_ports(1)[0]}"
        hosts = self.workdir / f"{self.kind}-{address.replace(':', '_')}-hosts.json"
        write_hosts(hosts, [address, self.anchor_address])
        proc = self.cluster.spawn(address, hosts, self.kind)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while not await self._probe_ping(address):
            if not proc.running() or loop.time() > deadline:
                raise RuntimeError(
                    f"{self.kind} target {address} did not become ready:\n{proc.log_tail()}"
                )
            await asyncio.sleep(0.05)
        stop = await self._call("/admin/gossip/stop", b"", address=address)
        if not stop.ok:
            raise RuntimeError(f"{self.kind}: /admin/gossip/stop failed: {stop.arg3[:200]!r}")
        return proc, hosts

    async def _adopt(self, proc: NodeProc, hosts: Path) -> None:
        self.proc, self.address, self.hosts = proc, proc.address, hosts
        self.checksum = 0
        problem = await self.refresh()
        if problem:
            raise RuntimeError(f"{self.kind} target {self.address}: {problem}")

    async def restart(self) -> None:
        """Replace a process that stopped working (counted in :attr:`restarts`)."""
        self.restarts += 1
        await self.rotate()

    async def rotate(self) -> None:
        """Kill the process (by PID) and continue with a spare one on another port.

        :data:`SPARES` processes are kept starting in the background, so replacing a
        target that crashed, or one whose membership grew large, costs little time.
        """
        if self.proc is not None:
            self.proc.kill()
        if self._spares:
            await self._adopt(*await self._spares.popleft())
        else:
            await self._adopt(*await self._launch())
        self._keep_spares()

    def _keep_spares(self) -> None:
        while len(self._spares) < SPARES.get(self.kind, 1):
            self._spares.append(asyncio.ensure_future(self._launch()))

    async def close(self) -> None:
        """Stop spares and the process (by PID); close the fakes."""
        for task in self._spares:
            task.cancel()
        for outcome in await asyncio.gather(*self._spares, return_exceptions=True):
            if isinstance(outcome, tuple):
                outcome[0].kill()
        if self.proc is not None:
            self.proc.kill()
        await self.client.close(drain_timeout=0.0)
        await self.anchor.close(drain_timeout=0.0)

    # -- the anchor ----------------------------------------------------------------------

    def _anchor_join(self, request: Request) -> Response:
        body = _parse(request.arg3) or {}
        joiner = {
            "source": self.anchor_address,
            "sourceIncarnationNumber": BASE_INC,
            "address": body.get("source", ""),
            "status": "alive",
            "incarnationNumber": body.get("incarnationNumber", 0),
        }
        anchor = {**joiner, "address": self.anchor_address, "incarnationNumber": BASE_INC}
        return Response.from_json(
            {
                "app": "ringpop",
                "coordinator": self.anchor_address,
                "membership": [anchor, joiner],
                "membershipChecksum": 1,
            }
        )

    def _anchor_ping(self, request: Request) -> Response:
        return Response.from_json({"changes": []})

    def _anchor_ping_req(self, request: Request) -> Response:
        body = _parse(request.arg3) or {}
        return Response.from_json(
            {"changes": [], "pingStatus": True, "target": body.get("target", "")}
        )

    # -- calls -----------------------------------------------------------------------

    async def _call(
        self,
        endpoint: str,
        arg3: bytes,
        *,
        arg2: bytes = b"",
        timeout: float = CALL_TIMEOUT,
        address: str = "",
    ) -> Response:
        return await self.client.call(
            address or self.address, SERVICE, endpoint, arg2, arg3, timeout=timeout, scheme="raw"
        )

    async def _probe_ping(self, address: str = "") -> bool:
        """A normal ping from the anchor is answered with a ``changes`` list."""
        body = {
            "checksum": self.checksum or 1,
            "changes": [],
            "source": self.anchor_address,
            "sourceIncarnationNumber": BASE_INC,
            "app": "ringpop",
        }
        try:
            response = await self._call(
                "/protocol/ping", to_bytes(body), timeout=2.0, address=address
            )
        except TChannelError:
            return False
        parsed = _parse(response.arg3) if response.ok else None
        return isinstance(parsed, dict) and isinstance(parsed.get("changes"), list)

    async def refresh(self) -> str:
        """Read ``/admin/stats``; ``""`` if fine, else what is wrong."""
        try:
            response = await self._call("/admin/stats", b"", timeout=2.0)
        except TChannelError as error:
            return f"/admin/stats failed: {type(error).__name__}"
        stats = _parse(response.arg3) if response.ok else None
        if not isinstance(stats, dict):
            return "/admin/stats answered no stats"
        self.members = _members(stats)
        self.checksum = int(stats["membership"]["checksum"])
        self.ring_checksum = int(stats["ring"]["checksum"])
        return ""

    def bindings(self, fakes: dict[str, str]) -> dict[str, Any]:
        """Placeholder values for a case run on this target."""
        inc = int(self.members.get(self.address, ("alive", 0))[1])
        return {
            **fakes,
            "target": self.address,
            "target-inc": inc,
            "target-inc+1": inc + 1,
            "target-inc-1": inc - 1,
            "anchor": self.anchor_address,
            "pong": self.anchor_address,
            "ring-checksum": self.ring_checksum,
        }

    # -- one case ----------------------------------------------------------------------

    async def deliver(self, case: Case, bindings: dict[str, Any]) -> tuple[bool, str, Any]:
        """Deliver ``case``; (accepted, detail, the concrete message)."""
        responder = None
        if case.kind in {"ping-response", "join-response"}:
            responder = _Responder(ENDPOINTS[case.kind])
            bindings["responder"] = await responder.start()
        message = None if case.message is None else materialise(case.message, bindings)
        body = case.raw.encode() if case.raw is not None else to_bytes(message)
        try:
            if responder is not None:
                responder.body = body
                if case.kind == "ping-response":
                    accepted, detail = await self._ping_via(responder.address, bindings)
                else:
                    accepted, detail = await self._heal_via(responder.address)
                return accepted, detail, message
            if case.kind == "proxy-head":
                response = await self._call(
                    ENDPOINTS[case.kind], PROXY_BODY, arg2=body, timeout=PROXY_TIMEOUT
                )
            else:
                response = await self._call(ENDPOINTS[case.kind], body)
        except CallTimeoutError:
            return False, "timeout", message
        except TChannelError as error:
            return False, f"transport:{type(error).__name__}", message
        finally:
            if responder is not None:
                await responder.close()
        if response.ok:
            return True, "ok", message
        return False, f"error:{_error_type(response)}", message

    async def _ping_via(self, responder: str, bindings: dict[str, Any]) -> tuple[bool, str]:
        """Ask the target (ping-req) to ping the responder."""
        ping_req = {
            "source": self.anchor_address,
            "sourceIncarnationNumber": BASE_INC,
            "target": responder,
            "checksum": self.checksum or 1,
            "changes": [],
        }
        response = await self._call("/protocol/ping-req", to_bytes(ping_req))
        if not response.ok:
            return False, f"ping-req error:{_error_type(response)}"
        parsed = _parse(response.arg3)
        status = parsed.get("pingStatus") if isinstance(parsed, dict) else None
        return status is True, f"pingStatus={json.dumps(status)}"

    async def _heal_via(self, responder: str) -> tuple[bool, str]:
        """List the responder in the hosts file and run a heal pass."""
        write_hosts(self.hosts, [self.address, self.anchor_address, responder])
        response = await self._call("/admin/healpartition/disco", b"", timeout=HEAL_TIMEOUT)
        if not response.ok:
            return False, f"heal error:{_error_type(response)}"
        parsed = _parse(response.arg3)
        targets = parsed.get("targets") if isinstance(parsed, dict) else None
        healed = isinstance(targets, list) and responder in targets
        if isinstance(targets, list):
            targets = ["<responder>" if t == responder else t for t in targets]
        return healed, f"healed={json.dumps(targets)}"

    async def observe(
        self,
        before: dict[str, State],
        bindings: dict[str, Any],
        entries: list[Any],
        used: frozenset[str] | set[str] = frozenset(),
    ) -> tuple[bool, str, dict[str, Any], list[str]]:
        """After a case: (working, why not, normalised membership, §6 violations).

        ``used`` names the placeholders whose addresses are checked (besides the
        target and its anchor).
        """
        if self.proc is None or not self.proc.running():
            return False, f"crashed: {_crash_line(self.proc)}", {}, []
        problem = await self.refresh()
        if not problem and not await self._probe_ping():
            problem = "a normal ping was not answered"
        if not problem:
            me = self.members.get(self.address)
            if me is None or me[0] != "alive":
                problem = f"the target shows itself as {me}"
            elif self.members.get(self.anchor_address, ("",))[0] != "alive":
                problem = f"the anchor is {self.members.get(self.anchor_address)}"
        if problem:
            return False, problem, {}, []
        names = {self.address: SELF, self.anchor_address: "<anchor>"}
        for name in sorted(used):
            address = bindings.get(name)
            if isinstance(address, str):
                names.setdefault(address, f"<{name}>")
        found = violations(before, self.members, entries, addresses=names)
        return True, "", self._normalise(before, names), found

    def _normalise(self, before: dict[str, State], names: dict[str, str]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for address, name in sorted(names.items(), key=lambda item: item[1]):
            state = self.members.get(address)
            if name == SELF and state is not None:
                old = before.get(address, state)[1]
                relation = "same" if state[1] == old else "bumped" if state[1] > old else "lower"
                if not isinstance(state[1], int):
                    relation = f"invalid {json.dumps(state[1])}"
                result[name] = [state[0], relation]
            else:
                result[name] = None if state is None else [_short(v) for v in state]
        return result

    async def run(self, case: Case, fakes: dict[str, str]) -> Outcome:
        """Deliver ``case`` and observe; restarts the target if it stopped working."""
        began = time.monotonic()
        before = dict(self.members)
        bindings = self.bindings(fakes)
        accepted, detail, message = await self.deliver(case, bindings)
        entries = _entries(case, message)
        used = {n for n in placeholders(case.message) if n in _ADDRESS_NAMES}
        if case.kind in {"ping-response", "join-response"}:
            used.add("responder")
        working, why, membership, found = await self.observe(before, bindings, entries, used)
        seconds = time.monotonic() - began
        if not working:
            if why.startswith("crashed"):
                accepted, detail = False, "crashed"
            await self.restart()
        return Outcome(accepted, detail, working, why, membership, found, seconds)


def _short(value: Any) -> Any:
    """Long strings (ringpop-node keeps a 1 MiB status) as their length."""
    return f"<{len(value)} characters>" if isinstance(value, str) and len(value) > 64 else value


def _crash_line(proc: NodeProc | None) -> str:
    """The error a dead process printed last (``TypeError: ...`` for node)."""
    if proc is None:
        return ""
    lines = proc.log_tail(4000).splitlines()
    errors = [line.strip() for line in lines if "Error" in line and not line.startswith(" ")]
    return (errors or lines or [""])[-1][:200]


def _entries(case: Case, message: Any) -> list[Any]:
    """The changes / members the case delivered (for the §6 check)."""
    if not isinstance(message, dict):
        return []
    key = "membership" if case.kind == "join-response" else "changes"
    if case.kind in {"join-request", "damp-req-request", "admin-lookup", "proxy-head"}:
        return []
    entries = message.get(key)
    return list(entries) if isinstance(entries, list) else []
