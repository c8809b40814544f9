"""Scripted fake ringpop peers around one real ``testpop`` process (issue 4).

The model is ringpop-common's integration harness: N fake nodes, each a real
:class:`ringpop.tchannel.Channel` listening on 127.0.0.1, serve ``/protocol/join``,
``/protocol/ping``, ``/protocol/ping-req`` and ``/proxy/req`` with behaviour each test
scripts (answer with a membership, delay, hold, refuse) and record every request.
A hosts file lists the fakes and the system under test (SUT), which runs as a
subprocess (``python -m ringpop.cli.testpop``) and is killed by PID at the end.

Every message the SUT sends is schema-checked (:class:`~tests.conformance.schemas.SchemaCheck`):
its requests as the fakes receive them, its responses as the fakes' and the admin
client's calls return them. Our own schemas (``tests/conformance/schemas.py``, written
from the spec's field tables) always apply, so the checks run on a fresh clone too;
when the spec is checked out next to the repository, its copy of ringpop-common's
schemas (``spec/schema``, testpop.md §4) must pass as well. Violations (schema errors,
wrong transport headers, an unexpected exit, a traceback on the SUT's stderr) are
collected in :attr:`Cluster.violations` and fail the test at teardown.

Use it through the ``cluster`` fixture of ``conftest.py``::

    c = await cluster(3, suspect_ms=1000)        # 3 fakes + a bootstrapped SUT
    c.fakes[1].ping_mode = Mode.REFUSE           # script a fake
    reply = await c.ping(c.fakes[0], c.ping_body(c.fakes[0], [change]))
    members = await c.members()                  # /admin/stats, schema-checked
    pings = c.requests("/protocol/ping", since)  # what the SUT sent, in order
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import farmhash

from ringpop.tchannel import Channel, Request, Response, TChannelError
from tests.conformance.schemas import (
    SchemaCheck,
    load_spec_schemas,
    spec_schema_dir,
)

__all__ = [
    "ADMIN_CALLER",
    "APP",
    "Cluster",
    "FakeNode",
    "Mode",
    "Received",
    "Reply",
    "SchemaCheck",
    "Timeline",
    "free_port",
    "go_checksum",
    "labels_checksum",
    "load_schemas",
    "now_ms",
    "schema_dir",
    "watch_member",
]

APP = "ringpop"
SERVICE = "ringpop"
ADMIN_CALLER = "ringpop-integration-test"
HOSTS_FILE_NAME = "ringpop-integration-test-hosts.json"

CALL_TIMEOUT = 4.0
"""Admin and fake-to-SUT calls (the suite uses 4000 ms for admin calls)."""
HOLD_LIMIT = 20.0
"""A held request is answered after this long at the latest (bounds every wait)."""
START_TIMEOUT = 8.0
"""Process start, bootstrap and first ping (the suite allows 5 s; leave room for load)."""

_REPO = Path(__file__).resolve().parents[2]


# -- the schemas: ours always, the spec's (ringpop-common's) when present ------------------

schema_dir = spec_schema_dir
"""Where the spec's copy of ringpop-common's schemas is (``None``: not checked out)."""
load_schemas = load_spec_schemas
"""The spec's copy of ringpop-common's schemas, or ``None`` (see :class:`SchemaCheck`)."""


# -- an independent membership checksum (spec §12, go flavour) --------------------------


def _fp32(data: str | bytes) -> int:
    return int(farmhash.Fingerprint32(data))


def labels_checksum(labels: Mapping[str, str] | None) -> int:
    """Signed XOR of Fingerprint32 over length-prefixed key/value pairs (§12.3)."""
    acc = 0
    for key, value in (labels or {}).items():
        k, v = key.encode(), value.encode()
        blob = len(k).to_bytes(4, "big") + k + len(v).to_bytes(4, "big") + v
        acc ^= _fp32(blob)
    return acc - (1 << 32) if acc >= 1 << 31 else acc


def go_checksum(members: Iterable[Mapping[str, Any]]) -> int:
    """The go-flavour membership checksum of ``/admin/stats``-style member dicts."""
    parts = []
    for member in members:
        if member["status"] == "tombstone":
            continue
        text = f"{member['address']}{member['status']}{member['incarnationNumber']}"
        checksum = labels_checksum(member.get("labels"))
        if checksum:
            text += f"#labels{checksum}"
        parts.append(text)
    return _fp32("".join(part + ";" for part in sorted(parts)))


# -- fake nodes --------------------------------------------------------------------------


class Mode(enum.Enum):
    """How a fake answers one endpoint."""

    ANSWER = "answer"
    HOLD = "hold"
    """Do not answer until released (or :data:`HOLD_LIMIT`), then answer normally."""
    REFUSE = "refuse"
    """Answer with an application error."""


@dataclass(slots=True)
class Received:
    """One request the SUT sent to a fake."""

    fake: str
    endpoint: str
    body: Any
    at: float
    """``loop.time()`` at arrival."""
    headers: dict[str, str]
    answered_at: float | None = None

    @property
    def changes(self) -> list[dict[str, Any]]:
        """The ``changes`` of a ping / ping-req body."""
        changes = self.body.get("changes") if isinstance(self.body, dict) else None
        return list(changes) if isinstance(changes, list) else []


@dataclass(slots=True)
class Reply:
    """The SUT's answer to a call made by a fake or the admin client."""

    ok: bool
    raw: bytes
    body: Any
    """Parsed JSON (``None`` if empty or not JSON)."""

    @property
    def error_type(self) -> str:
        """``type`` of an application error body ('' if none)."""
        return str(self.body.get("type", "")) if isinstance(self.body, dict) else ""

    @property
    def error_message(self) -> str:
        """``message`` of an application error body ('' if none)."""
        return str(self.body.get("message", "")) if isinstance(self.body, dict) else ""


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        return None


_REQUEST_SCHEMAS = {
    "/protocol/join": "JoinRequest",
    "/protocol/ping": "PingRequest",
    "/protocol/ping-req": "PingReqRequest",
}


class FakeNode:
    """A scripted ringpop peer: a listening channel that records every request."""

    def __init__(self, cluster: Cluster, incarnation: int) -> None:
        self.cluster = cluster
        self.incarnation = incarnation
        self.channel = Channel("127.0.0.1:0", drain_timeout=0.2, process_name="fake-node")
        self.address = ""
        self.received: list[Received] = []
        self.join_mode = Mode.ANSWER
        self.join_delay = 0.0
        self.ping_mode = Mode.ANSWER
        self.ping_req_mode = Mode.ANSWER
        self.ping_req_status = True
        """``pingStatus`` this fake answers ping-reqs with."""
        self.ping_reply_changes: list[Any] = []
        """Changes this fake puts in its ping responses."""
        self.ping_req_reply_changes: list[Any] = []
        """Changes this fake puts in its ping-req responses."""
        self.ping_reply_fields: dict[str, Any] = {}
        """Fields added to or replacing those of this fake's ping responses, as sent
        (e.g. ``{"checksum": None}``, what ringpop-common's fakes send at first)."""
        self.ping_req_reply_fields: dict[str, Any] = {}
        """Likewise for this fake's ping-req responses."""
        self._release = asyncio.Event()
        self.holding = 0
        """Requests held right now."""

    async def listen(self) -> str:
        for endpoint in _REQUEST_SCHEMAS:
            self.channel.register(SERVICE, endpoint, self._serve)
        self.channel.register(SERVICE, "/proxy/req", self._serve)
        self.address = await self.channel.listen()
        return self.address

    def release(self) -> None:
        """Answer every held request now (and later holds at once until re-armed)."""
        self._release.set()

    def rearm(self) -> None:
        """Make :attr:`Mode.HOLD` hold again after :meth:`release`."""
        self._release = asyncio.Event()

    def requests(self, endpoint: str | None = None, since: float = 0.0) -> list[Received]:
        """Recorded requests (to ``endpoint``, arrived at or after ``since``)."""
        return [
            r
            for r in self.received
            if (endpoint is None or r.endpoint == endpoint) and r.at >= since
        ]

    async def _serve(self, request: Request) -> Response:
        loop = asyncio.get_running_loop()
        endpoint = request.endpoint
        body = _parse(request.arg3)
        record = Received(self.address, endpoint, body, loop.time(), dict(request.headers))
        self.received.append(record)
        self._check_request(endpoint, request, body)
        mode = {
            "/protocol/join": self.join_mode,
            "/protocol/ping": self.ping_mode,
            "/protocol/ping-req": self.ping_req_mode,
        }.get(endpoint, Mode.REFUSE)
        if endpoint == "/protocol/join" and self.join_delay:
            await asyncio.sleep(self.join_delay)
        if mode is Mode.HOLD:
            self.holding += 1
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._release.wait(), HOLD_LIMIT)
            finally:
                self.holding -= 1
        if mode is Mode.REFUSE:
            response = Response.application_error("fake.refused", f"{self.address} refuses")
        elif endpoint == "/protocol/join":
            response = Response.from_json(self.cluster.join_response(self))
        elif endpoint == "/protocol/ping":
            response = Response.from_json(
                {
                    "changes": self.ping_reply_changes,
                    "checksum": self.cluster.model_checksum(self),
                    "source": self.address,
                    "sourceIncarnationNumber": self.incarnation,
                    **self.ping_reply_fields,
                }
            )
        else:
            target = body.get("target", "") if isinstance(body, dict) else ""
            response = Response.from_json(
                {
                    "changes": self.ping_req_reply_changes,
                    "pingStatus": self.ping_req_status,
                    "target": target,
                    **self.ping_req_reply_fields,
                }
            )
        record.answered_at = loop.time()
        return response

    def _check_request(self, endpoint: str, request: Request, body: Any) -> None:
        cluster = self.cluster
        where = f"{endpoint} to {self.address}"
        if request.scheme != "raw" or not request.caller:
            cluster.violation(f"{where}: transport headers as={request.scheme!r} cn=...")
        schema = _REQUEST_SCHEMAS.get(endpoint)
        if schema is None:
            cluster.violation(f"{where}: the SUT called an endpoint it must not call")
            return
        if body is None:
            cluster.violation(f"{where}: body is not JSON: {request.arg3[:200]!r}")
            return
        cluster.validate(schema, body, where)
        source = body.get("source") if isinstance(body, dict) else None
        if source != cluster.sut:
            cluster.violation(f"{where}: source {source!r} is not the SUT {cluster.sut}")

    async def call(self, endpoint: str, body: Any, *, timeout: float = CALL_TIMEOUT) -> Reply:
        """Call the SUT from this fake (``body``: JSON value, or raw bytes as is)."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            response = await self.channel.call(
                self.cluster.sut, SERVICE, endpoint, b"", raw, timeout=timeout, scheme="raw"
            )
        except TChannelError as error:
            raise AssertionError(
                f"{endpoint} from {self.address}: {error!r}\n{self.cluster.log_tail()}"
            ) from error
        return Reply(response.ok, response.arg3, _parse(response.arg3))

    def member(self, status: str = "alive", **extra: Any) -> dict[str, Any]:
        """This fake as a change/member dict."""
        return {
            "address": self.address,
            "status": status,
            "incarnationNumber": self.incarnation,
            **extra,
        }

    async def close(self) -> None:
        self.release()
        await self.channel.close(drain_timeout=0.2)


# -- the cluster: fakes + the SUT process -------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_HELD: list[socket.socket] = []


def unreachable_address() -> str:
    """An ``ip:port`` no process answers on for the rest of the test run: the port stays
    bound here without listening (connections are refused), so no fake or node started
    later can be given it. (A port that was free a moment ago once went to a fake, and a
    member meant to stay suspect answered its pings.)"""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    _HELD.append(sock)
    return f"127.0.0.1:{sock.getsockname()[1]}"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Cluster:
    """``size`` fake nodes around one real testpop process."""

    def __init__(
        self,
        directory: Path,
        size: int,
        *,
        suspect_ms: int = 5000,
        faulty_ms: int = 5000,
        tombstone_ms: int = 5000,
        identity: str | None = None,
        join_delay: float = 0.0,
        join_mode: Mode = Mode.ANSWER,
        extra_members: Sequence[dict[str, Any]] = (),
        extra_hosts: Sequence[str] = (),
        hosts_delay: float = 0.0,
        extra_flags: Sequence[str] = (),
        joiner_without_incarnation: bool = False,
    ) -> None:
        self.schemas = SchemaCheck.load()
        """Ours always, plus the spec's when it is checked out."""
        """``None`` without the spec: messages are then not schema-checked."""
        self.directory = directory
        self.size = size
        self.flags = {
            "suspect-period": suspect_ms,
            "faulty-period": faulty_ms,
            "tombstone-period": tombstone_ms,
        }
        self.identity = identity
        self.hosts_file = directory / HOSTS_FILE_NAME
        self.stderr_path = directory / "sut.stderr"
        base = now_ms() - 60_000
        self.fakes = [FakeNode(self, base + i) for i in range(size)]
        for fake in self.fakes:
            fake.join_delay = join_delay
            fake.join_mode = join_mode
        self.sut = ""
        self.sut_incarnation = 0
        self.sut_labels: dict[str, str] = {}
        self.proc: asyncio.subprocess.Process | None = None
        self.violations: list[str] = []
        self.expect_exit = False
        self.spawned_at = 0.0
        """When the SUT process was started (``loop.time()``)."""
        self.bootstrapped_at = 0.0
        """When the last bootstrap join response left a fake (``loop.time()``)."""
        self.admin_channel = Channel(drain_timeout=0.2, process_name="ringpop-integration-test")
        self.extra_members = {m["address"]: dict(m) for m in extra_members}
        """Members (beyond fakes and SUT) that fakes put in their join responses."""
        self.hidden: set[str] = set()
        """Fakes on the other side of a partition (see :meth:`model`)."""
        self.extra_hosts = list(extra_hosts)
        """More entries for the initial hosts file (e.g. unreachable or malformed)."""
        self.hosts_delay = hosts_delay
        """If set, the hosts file is unreadable for this long after the SUT starts."""
        self.extra_flags = list(extra_flags)
        """testpop flags beyond the harness's (e.g. ``--lifeguard``)."""
        self.joiner_without_incarnation = joiner_without_incarnation
        """Join responses list the SUT without ``incarnationNumber`` (and with
        ``membershipChecksum: null``) until the fakes have seen its incarnation, as
        ringpop-common's fakes do (spec §1.1)."""

    # -- violations ------------------------------------------------------------------

    def violation(self, text: str) -> None:
        self.violations.append(text)

    def validate(self, schema: str, body: Any, where: str) -> None:
        for error in self.schemas.errors(schema, body):
            self.violation(f"{where}: {schema}: {error}")

    # -- the fakes' shared view ------------------------------------------------------

    def fake(self, address: str) -> FakeNode:
        return next(f for f in self.fakes if f.address == address)

    def model(self, viewer: FakeNode | None = None) -> list[dict[str, Any]]:
        """What the fakes believe: every fake alive, the SUT as it joined, extras.

        Fakes in :attr:`hidden` (the other side of a partition) know only each other
        and the SUT; the other fakes do not know them.
        """
        if viewer is not None and viewer.address in self.hidden:
            members = [f.member() for f in self.fakes if f.address in self.hidden]
        else:
            members = [f.member() for f in self.fakes if f.address not in self.hidden]
        if self.sut_incarnation:
            sut: dict[str, Any] = {
                "address": self.sut,
                "status": "alive",
                "incarnationNumber": self.sut_incarnation,
            }
            if self.sut_labels:
                sut["labels"] = dict(self.sut_labels)
            members.append(sut)
        members.extend(self.extra_members.values())
        return members

    def model_checksum(self, viewer: FakeNode | None = None) -> int:
        return go_checksum(self.model(viewer))

    def join_response(self, fake: FakeNode) -> dict[str, Any]:
        membership = [
            {"source": fake.address, "sourceIncarnationNumber": fake.incarnation, **m}
            for m in self.model(fake)
        ]
        checksum: int | None = self.model_checksum(fake)
        if self.joiner_without_incarnation and not self.sut_incarnation:
            membership.append({"source": fake.address, "address": self.sut, "status": "alive"})
            checksum = None
        return {
            "app": APP,
            "coordinator": fake.address,
            "membership": membership,
            "membershipChecksum": checksum,
        }

    def requests(
        self, endpoint: str | None = None, since: float = 0.0, fakes: Sequence[FakeNode] = ()
    ) -> list[Received]:
        """Requests to every (or the given) fake, in arrival order."""
        found = [r for f in (fakes or self.fakes) for r in f.requests(endpoint, since)]
        return sorted(found, key=lambda r: r.at)

    # -- lifecycle -------------------------------------------------------------------

    def write_hosts(self, addresses: Iterable[str]) -> None:
        """(Re)write the hosts file atomically."""
        temporary = self.hosts_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(list(addresses)))
        temporary.replace(self.hosts_file)

    def command(self, port: int) -> list[str]:
        args = [sys.executable, "-m", "ringpop.cli.testpop"]
        if self.identity is not None:
            args.append(f"--identity={self.identity}")
        args += [f"--hosts={self.hosts_file}", f"--listen=127.0.0.1:{port}"]
        args += [f"--{name}={value}" for name, value in self.flags.items()]
        return args + self.extra_flags

    async def start(self, *, wait_for_ping: bool = True, bootstrap: bool = True) -> None:
        """Start the fakes and the SUT; wait for its bootstrap joins (and first ping).

        ``bootstrap=False`` returns as soon as the join requests arrived (answered or
        not, see :attr:`FakeNode.join_mode`).
        """
        for fake in self.fakes:
            await fake.listen()
        loop = asyncio.get_running_loop()
        joins_expected = min(6, self.size)
        for attempt in range(3):
            port = free_port()
            self.sut = f"127.0.0.1:{port}"
            hosts = [f.address for f in self.fakes] + self.extra_hosts + [self.sut]
            fix_hosts = None
            if self.hosts_delay:
                self.hosts_file.write_text('["not json')
                fix_hosts = loop.call_later(self.hosts_delay, self.write_hosts, hosts)
            else:
                self.write_hosts(hosts)
            self.spawned_at = loop.time()
            with self.stderr_path.open("ab") as stderr:
                self.proc = await asyncio.create_subprocess_exec(
                    *self.command(port),
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=stderr,
                    stdin=asyncio.subprocess.DEVNULL,
                )
            deadline = loop.time() + START_TIMEOUT
            while len(self.requests("/protocol/join")) < joins_expected:
                if self.proc.returncode is not None or loop.time() > deadline:
                    break
                await asyncio.sleep(0.01)
            if len(self.requests("/protocol/join")) >= joins_expected:
                break
            exited = self.proc.returncode
            await self.kill()
            if exited is None or attempt == 2:  # not a port collision: give up
                raise AssertionError(
                    f"SUT sent {len(self.requests('/protocol/join'))} of {joins_expected} "
                    f"bootstrap joins within {START_TIMEOUT} s\n{self.log_tail()}"
                )
            # Probably a port collision: keep that attempt's log aside and start afresh.
            if fix_hosts is not None:
                fix_hosts.cancel()
            self.stderr_path.replace(self.stderr_path.with_name(f"sut.attempt{attempt}.stderr"))
            for fake in self.fakes:
                fake.received.clear()
        first = self.requests("/protocol/join")[0].body
        self.sut_incarnation = int(first["incarnationNumber"])
        self.sut_labels = dict(first.get("labels") or {})
        if not bootstrap:
            return
        while any(r.answered_at is None for r in self.requests("/protocol/join")):
            assert loop.time() < deadline, "bootstrap join responses were not sent"
            await asyncio.sleep(0.005)
        self.bootstrapped_at = max(r.answered_at or 0.0 for r in self.requests("/protocol/join"))
        if wait_for_ping:
            await self.wait_for(
                lambda: bool(self.requests("/protocol/ping")), 3.0, "the SUT's first ping"
            )

    def log_tracebacks(self) -> list[str]:
        """Lines of the SUT's stderr that start or end a Python traceback."""
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return []
        lines = text.splitlines()
        found = []
        for index, line in enumerate(lines):
            if line.startswith("Traceback") or "exception was never retrieved" in line:
                found.append(" | ".join(lines[max(0, index - 1) : index + 1]))
        return found

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return "(no SUT stderr)"
        return "SUT stderr (tail):\n" + "\n".join(text.splitlines()[-lines:])

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def wait_exit(self, timeout: float) -> int | None:
        """The SUT's exit status, or ``None`` if it still runs after ``timeout``."""
        assert self.proc is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), timeout)
        return self.proc.returncode

    async def terminate(self, timeout: float = 8.0) -> int | None:
        """SIGTERM the SUT (by PID); its exit status (``None`` if it did not exit)."""
        assert self.proc is not None
        self.expect_exit = True
        os.kill(self.proc.pid, signal.SIGTERM)
        return await self.wait_exit(timeout)

    def kill_now(self) -> None:
        """SIGKILL the SUT by PID if it may still run (synchronous last resort)."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)

    async def kill(self) -> None:
        """SIGKILL the SUT by PID if it still runs, and reap it."""
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 5.0)

    async def close(self) -> None:
        status = None if self.proc is None else self.proc.returncode
        if status is not None and not self.expect_exit:
            self.violation(f"SUT exited during the test with status {status}")
        for line in self.log_tracebacks():
            self.violation(f"SUT logged an unexpected exception: {line}")
        await self.kill()
        for fake in self.fakes:
            await fake.close()
        await self.admin_channel.close(drain_timeout=0.2)

    # -- talking to the SUT ------------------------------------------------------------

    async def admin(self, endpoint: str, body: Any = None) -> Reply:
        """Call an admin endpoint as the suite does (ephemeral, ``as=raw``, its ``cn``)."""
        raw = (
            b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        )
        try:
            response = await self.admin_channel.call(
                self.sut,
                SERVICE,
                endpoint,
                b"",
                raw,
                timeout=CALL_TIMEOUT,
                scheme="raw",
                caller=ADMIN_CALLER,
            )
        except TChannelError as error:
            raise AssertionError(f"{endpoint}: {error!r}\n{self.log_tail()}") from error
        return Reply(response.ok, response.arg3, _parse(response.arg3))

    async def stats(self) -> dict[str, Any]:
        """``/admin/stats``, schema-checked."""
        reply = await self.admin("/admin/stats")
        assert reply.ok, f"/admin/stats failed: {reply.raw[:300]!r}"
        assert isinstance(reply.body, dict), reply.raw[:300]
        self.validate("StatsResponse", reply.body, "/admin/stats response")
        return reply.body

    async def members(self) -> dict[str, dict[str, Any]]:
        """``/admin/stats`` members by address."""
        stats = await self.stats()
        return {m["address"]: m for m in stats["membership"]["members"]}

    async def ping(self, fake: FakeNode, body: Any) -> Reply:
        """``/protocol/ping`` from ``fake``; a successful answer is schema-checked."""
        reply = await fake.call("/protocol/ping", body)
        if reply.ok:
            self.validate("PingResponse", reply.body, f"ping response to {fake.address}")
        return reply

    def ping_body(
        self,
        fake: FakeNode,
        changes: Sequence[Mapping[str, Any]] = (),
        *,
        checksum: int | None = None,
    ) -> dict[str, Any]:
        return {
            "checksum": self.model_checksum() if checksum is None else checksum,
            "changes": list(changes),
            "source": fake.address,
            "sourceIncarnationNumber": fake.incarnation,
            "app": APP,
        }

    async def ping_req(self, fake: FakeNode, target: str, **overrides: Any) -> Reply:
        """``/protocol/ping-req`` from ``fake`` about ``target``; answers schema-checked."""
        body = {
            "source": fake.address,
            "sourceIncarnationNumber": fake.incarnation,
            "target": target,
            "checksum": self.model_checksum(),
            "changes": [],
            **overrides,
        }
        reply = await fake.call("/protocol/ping-req", body, timeout=CALL_TIMEOUT + 4)
        if reply.ok:
            self.validate("PingReqResponse", reply.body, f"ping-req response to {fake.address}")
        return reply

    async def join(self, fake: FakeNode, body: Any) -> Reply:
        """``/protocol/join`` from ``fake``; a successful answer is schema-checked."""
        reply = await fake.call("/protocol/join", body)
        if reply.ok:
            self.validate("JoinResponse", reply.body, f"join response to {fake.address}")
        return reply

    async def wait_for(
        self,
        condition: Callable[[], bool | Awaitable[bool]],
        timeout: float,
        what: str,
        interval: float = 0.02,
    ) -> float:
        """Poll ``condition`` until true; the ``loop.time()`` it became true."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = condition()
            if not isinstance(result, bool):
                result = await result
            if result:
                return loop.time()
            if loop.time() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            if not self.running and not self.expect_exit:
                raise AssertionError(f"SUT exited while waiting for {what}\n{self.log_tail()}")
            await asyncio.sleep(interval)


@dataclass(slots=True)
class Timeline:
    """Status of one member over time, from polling ``/admin/stats``."""

    seen: dict[str, float] = field(default_factory=dict)
    """status -> first ``loop.time()`` it was observed ('absent' once evicted)."""


async def watch_member(cluster: Cluster, address: str, until: str, timeout: float) -> Timeline:
    """Poll stats every 40 ms, recording when ``address`` first shows each status."""
    loop = asyncio.get_running_loop()
    timeline = Timeline()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        members = await cluster.members()
        member = members.get(address)
        status = "absent" if member is None else str(member["status"])
        timeline.seen.setdefault(status, loop.time())
        if status == until:
            return timeline
        await asyncio.sleep(0.04)
    raise AssertionError(f"{address} never became {until}: saw {timeline.seen}")
