"""``ringpop tick-cluster``'s controller: the node processes, polling and the keys' actions.

:class:`TickCluster` starts the N node processes (``ringpop testpop`` by default, any
program taking testpop's flags with ``--program``), writes their hosts file, polls every
node's ``/admin/stats`` (and ``/admin/state`` where served) into a
:class:`~ringpop.cli.clusterview.ClusterModel`, and carries out the keys (kill, revive,
suspend, join, tick, stats tables, debug). The command line is in
:mod:`ringpop.cli.tickargs`, the two display modes and ``main`` in
:mod:`ringpop.cli.tickrun`, the tables the keys show in :mod:`ringpop.cli.tickdetail`.
"""

from __future__ import annotations

import asyncio
import random
import shlex
import time
from collections.abc import Callable
from typing import Any

from ringpop.admin.client import AdminClient, AdminError
from ringpop.cli import tickdetail
from ringpop.cli.clusterview import ClusterModel
from ringpop.cli.procs import NodeProcess, ProcessGroup, StopReport
from ringpop.cli.tickargs import Config, SetupError
from ringpop.cli.tickdetail import Detail

__all__ = ["Detail", "TickCluster"]

POLL_TIMEOUT = 1.0
STATE_ENDPOINT = "/admin/state"  # served by nodes keeping state (examples/kv): keys held
ACTION_TIMEOUT = 3.0


class TickCluster:
    """Runs the processes, polls them and carries out the keys' actions."""

    def __init__(self, config: Config, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.hosts_file = config.workdir / "hosts.json"
        self.nodes = [
            NodeProcess(
                index=i,
                address=address,
                argv=config.argv(i, self.hosts_file),
                log_path=config.workdir / f"node-{address.replace(':', '_')}.log",
            )
            for i, address in enumerate(config.addresses)
        ]
        self.by_address = {n.address: n for n in self.nodes}
        self.group = ProcessGroup(self.nodes, grace=config.grace)
        self.model = ClusterModel(config.addresses, clock=clock)
        self.rng = random.Random(config.seed)
        self.detail: Detail | None = None
        self.show_help = False
        self.debug_on = False
        self.stopping = False
        self.started_at = clock()
        self.stop_event = asyncio.Event()
        self.refresh: Callable[[], None] = lambda: None
        self.converged_once = False
        self.crashed: list[str] = []
        self.states: dict[str, dict[str, Any]] = {}
        """``/admin/state`` answers (nodes keeping state: keys held, handoff counters)."""
        self._stateless: set[str] = set()  # answered stats but not /admin/state: not asked again
        self._client: AdminClient | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.dashboard_url: str | None = None  # --dashboard, once it listens

    @property
    def client(self) -> AdminClient:
        assert self._client is not None, "not running"
        return self._client

    # -- lifecycle -----------------------------------------------------------------

    def start_all(self) -> None:
        import json

        self.hosts_file.write_text(json.dumps(self.config.addresses) + "\n")
        for node in self.nodes:
            try:
                pid = self.group.start(node)
            except OSError as error:
                raise SetupError(
                    f"cannot start {shlex.join(node.argv[:3])}...: {error.strerror or error}"
                ) from None
            self.model.started(node.address, pid)
            self._stateless.discard(node.address)

    def stop_all(self) -> StopReport:
        return self.group.stop_all()

    async def run(self, duration: float | None) -> None:
        """Poll until :attr:`stop_event` is set or ``duration`` seconds have passed."""
        tls = self.config.tls.admin_tls() if self.config.tls else None
        async with AdminClient(timeout=ACTION_TIMEOUT, tls=tls) as client:
            self._client = client
            poller = asyncio.ensure_future(self._poll_forever())
            stopper = asyncio.ensure_future(self.stop_event.wait())
            waiters: set[asyncio.Future[Any]] = {poller, stopper}
            try:
                await asyncio.wait(waiters, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
                if poller.done() and not poller.cancelled() and poller.exception() is not None:
                    raise poller.exception()  # type: ignore[misc]
            finally:
                self.stopping = True
                for task in [poller, stopper, *self._tasks]:
                    task.cancel()
                await asyncio.gather(poller, stopper, *self._tasks, return_exceptions=True)
                self._client = None

    def spawn(self, coro: Any) -> None:
        """Run an action in the background (tracked, cancelled on exit)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.model.emit("error", f"action failed: {task.exception()!r}")
            self.refresh()

    # -- polling -------------------------------------------------------------------

    async def _poll_forever(self) -> None:
        while True:
            began = self.clock()
            await self.poll_round()
            self.refresh()
            await asyncio.sleep(max(0.05, self.config.interval - (self.clock() - began)))

    async def poll_round(self) -> None:
        for node in self.nodes:
            state = self.model.nodes[node.address]
            if state.expected and not node.running:
                description = node.describe_exit()
                self.crashed.append(node.address)
                self.model.exited(node.address, description, str(node.log_path))
        targets = [a for a, s in self.model.nodes.items() if s.expected]
        results, _ = await asyncio.gather(
            self.client.stats_many(targets, timeout=POLL_TIMEOUT), self.poll_states(targets)
        )
        for address, result in results.items():
            # A node killed or suspended while we waited has nothing to say this round.
            if self.model.nodes[address].expected:
                self.model.observe(address, result)
        self.model.end_round()
        if self.model.converged:
            self.converged_once = True

    async def poll_states(self, targets: list[str]) -> None:
        """``/admin/state`` of the nodes that serve it (testpop and ringpop-node do not)."""

        async def one(address: str) -> None:
            try:
                answer = await self.client.call(address, STATE_ENDPOINT, timeout=POLL_TIMEOUT)
            except AdminError as error:
                self.states.pop(address, None)
                if error.kind not in ("unreachable", "timeout"):
                    self._stateless.add(address)  # it answered: it has no such endpoint
                return
            if isinstance(answer, dict):
                self.states[address] = answer

        await asyncio.gather(*(one(a) for a in targets if a not in self._stateless))

    def keys_text(self, address: str) -> str:
        """The ``keys`` column: records held by the node, if it reports them."""
        state = self.states.get(address)
        keys = state.get("keys") if state is not None else None
        return str(keys) if isinstance(keys, int) else ""

    # -- actions (keys) ------------------------------------------------------------

    def running_nodes(self) -> list[NodeProcess]:
        """Nodes whose process runs and is not suspended."""
        return [n for n in self.nodes if n.running and not n.suspended]

    def key(self, char: str) -> None:
        """Carry out the action of a key press."""
        actions: dict[str, Callable[[], None]] = {
            "k": self.kill_random,
            "K": self.revive_all,
            "l": self.suspend_random,
            "j": lambda: self.spawn(self.join_all()),
            "g": lambda: self.spawn(self.gossip_stats()),
            "p": lambda: self.spawn(self.protocol_stats()),
            "t": lambda: self.spawn(self.tick_all()),
            "s": lambda: self.spawn(self.cluster_stats()),
            "d": lambda: self.spawn(self.toggle_debug()),
            "h": self.toggle_help,
            "?": self.toggle_help,
            "q": self.quit,
        }
        action = actions.get(char)
        if action is not None:
            action()
            self.refresh()

    def quit(self) -> None:
        self.model.emit("action", "quit: stopping every node")
        self.stop_event.set()

    def toggle_help(self) -> None:
        self.show_help = not self.show_help

    def kill_random(self) -> None:
        candidates = self.running_nodes()
        if not candidates:
            self.model.emit("info", "k: no running node to kill")
            return
        node = self.rng.choice(candidates)
        pid = node.pid
        if self.group.kill(node):
            self.model.disturb()
            self.model.killed(node.address, f"killed by tick-cluster (pid {pid}, SIGKILL)")

    def revive_all(self) -> None:
        revived = False
        for node in self.nodes:
            if node.suspended:
                self.group.resume(node)
                self.model.resumed(node.address)
                revived = True
            elif not node.running:
                try:
                    pid = self.group.start(node)
                except OSError as error:
                    self.model.emit("error", f"{node.address}: cannot start: {error}")
                    continue
                self.model.started(node.address, pid, again=True)
                self._stateless.discard(node.address)
                revived = True
        if revived:
            self.model.disturb()
        else:
            self.model.emit("info", "K: every node is already running")

    def suspend_random(self) -> None:
        candidates = self.running_nodes()
        if not candidates:
            self.model.emit("info", "l: no running node to suspend")
            return
        node = self.rng.choice(candidates)
        if self.group.suspend(node):
            self.model.disturb()
            self.model.suspended(node.address, self.config.suspend_seconds)
            self.spawn(self._resume_later(node, node.pid))

    async def _resume_later(self, node: NodeProcess, pid: int | None) -> None:
        await asyncio.sleep(self.config.suspend_seconds)
        if node.pid == pid and node.suspended and self.group.resume(node):
            self.model.disturb()
            self.model.resumed(node.address)
            self.refresh()

    async def _each(
        self, endpoint: str, body: dict[str, Any] | None = None
    ) -> dict[str, tuple[Any, float]]:
        """Call ``endpoint`` on every running node: answers (or AdminError) and seconds."""
        targets = [n.address for n in self.running_nodes()]

        async def one(address: str) -> tuple[Any, float]:
            began = self.clock()
            try:
                answer = await self.client.call(address, endpoint, body)
            except AdminError as error:
                answer = error
            return answer, self.clock() - began

        answers = await asyncio.gather(*(one(a) for a in targets))
        return dict(zip(targets, answers, strict=True))

    def _show(self, detail: Detail) -> None:
        self.detail = detail
        self.show_help = False
        self.refresh()

    async def join_all(self) -> None:
        self.model.emit("action", "j: /admin/member/join on every running node")
        answers = await self._each("/admin/member/join")
        self._show(tickdetail.join_detail(answers))

    async def tick_all(self) -> None:
        self.model.emit("action", "t: /admin/gossip/tick on every running node")
        answers = await self._each("/admin/gossip/tick")
        self._show(tickdetail.tick_detail(answers))

    async def toggle_debug(self) -> None:
        endpoint = "/admin/debugClear" if self.debug_on else "/admin/debugSet"
        self.debug_on = not self.debug_on
        state = "on" if self.debug_on else "off"
        self.model.emit("action", f"d: debug logging {state} ({endpoint})")
        answers = await self._each(endpoint)
        self._show(tickdetail.debug_detail(state, endpoint, answers, self.config.workdir))

    async def gossip_stats(self) -> None:
        statuses = await self._each("/admin/gossip/status")
        self._show(tickdetail.gossip_detail(statuses, self.model))

    async def protocol_stats(self) -> None:
        addresses = [node.address for node in self.running_nodes()]
        self._show(tickdetail.protocol_detail(addresses, self.model))

    async def cluster_stats(self) -> None:
        addresses = [node.address for node in self.running_nodes()]
        self._show(
            tickdetail.cluster_stats_detail(
                addresses, self.model, self.hosts_file, self.config.workdir
            )
        )
