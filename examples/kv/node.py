"""One node of the replicated key-value store.

Every key is kept on its ``n`` first owners on the ring (its preference list),
versioned by hybrid logical clocks (last writer wins). Any node accepts any request
and coordinates it: a write must reach ``w`` replicas, a read asks ``r`` and repairs
stale ones. When the ring changes, nodes pull the ranges they gain from the previous
holders (handoff) and replicas compare range digests periodically (anti-entropy), so
a node killed, restarted, added or removed loses no acknowledged write::

    PUT    /kv/{key}   body = value      201 stored on w replicas / 503 quorum not met
    GET    /kv/{key}                     200 value / 404 / 503
    DELETE /kv/{key}                     204 / 404 / 503
    GET    /kv                           this node's own live keys (JSON)
    GET    /                             node info (JSON): keys held, handoff counters

Responses to ``/kv/{key}`` carry ``x-ringpop-owner`` and ``x-ringpop-replicas`` (the
key's preference list, owner first) and ``x-ringpop-coordinator`` (the node that
answered). The node also serves ``/admin/state`` on TChannel (keys held, store, N/R/W, handoff and
anti-entropy counters): ``ringpop tick-cluster`` shows it as the ``keys`` column.
"""

from __future__ import annotations

import argparse
import functools
import logging
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from examples._node import run_main
from ringpop import Ringpop
from ringpop.ring.ownership import HASH_SPACE, Range
from ringpop.state.antientropy import AntiEntropy
from ringpop.state.handoff import RangeHandoff
from ringpop.state.memory import MemoryStore
from ringpop.state.replicated import ReplicatedStore
from ringpop.state.replicator import QuorumError, ReplicaOptions
from ringpop.state.sqlite import SQLiteStore
from ringpop.state.store import Store
from ringpop.tchannel import Request, Response

__all__ = ["STATE_ENDPOINT", "build_app", "kv_parser", "main"]

log = logging.getLogger("examples.kv")

STATE_ENDPOINT = "/admin/state"
EVERYTHING = Range(0, HASH_SPACE)


def kv_parser() -> argparse.ArgumentParser:
    """The kv flags (beyond testpop's): replication and storage."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--n", type=int, default=3, help="replicas per key (3)")
    parser.add_argument("--w", type=int, default=2, help="replicas a write needs (2)")
    parser.add_argument("--r", type=int, default=2, help="replicas a read needs (2)")
    parser.add_argument(
        "--store",
        choices=("sqlite", "memory"),
        default="sqlite",
        help="where a node keeps its keys: sqlite (a file, see --data-dir) or memory (sqlite)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="SQLite files here, one per node, kept across restarts (default: a temporary "
        "directory removed on exit)",
    )
    parser.add_argument(
        "--handoff-grace",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="keep a lost range at least this long, and until its new holders confirm, "
        "before dropping it (30)",
    )
    parser.add_argument(
        "--anti-entropy-interval",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="compare range digests with the other replicas this often (5; 0: never)",
    )
    return parser


def _store(listen: str, config: argparse.Namespace) -> tuple[Store, Path | None]:
    """The store, and a temporary directory to remove on exit (no ``--data-dir``)."""
    if config.store == "memory":
        return MemoryStore(), None
    temporary = None
    directory: Path = config.data_dir
    if config.data_dir is None:
        directory = temporary = Path(tempfile.mkdtemp(prefix="ringpop-kv-"))
    directory.mkdir(parents=True, exist_ok=True)
    return SQLiteStore(directory / f"{listen.replace(':', '_')}.db"), temporary


class _Parts:
    """The node's state objects, made once the channel listens (they need our address)."""

    kv: ReplicatedStore
    handoff: RangeHandoff
    entropy: AntiEntropy


async def _count(store: Store) -> int:
    if isinstance(store, MemoryStore):
        return len(store)
    return (await store.digest(EVERYTHING)).count


def build_app(
    rp: Ringpop, args: argparse.Namespace, config: argparse.Namespace | None = None
) -> web.Application:
    """The HTTP front, the replicated store and its handoff/anti-entropy of one node."""
    config = config if config is not None else kv_parser().parse_args([])
    options = ReplicaOptions(n=config.n, r=config.r, w=config.w, timeout=2.0)
    rp.ownership_n = config.n  # OwnershipChanged for our n: what handoff pulls
    store, temporary = _store(args.listen, config)
    parts = _Parts()

    async def startup(app: web.Application) -> None:  # after rp.start(), before joining
        parts.kv = ReplicatedStore(rp, store, options)
        parts.handoff = RangeHandoff(parts.kv, grace=config.handoff_grace)
        parts.entropy = AntiEntropy(parts.kv, interval=config.anti_entropy_interval)

    def stamp(key: str, response: web.Response) -> web.Response:
        if rp.is_ready:
            replicas = rp.lookup_n(key, config.n)
            response.headers["x-ringpop-owner"] = replicas[0] if replicas else ""
            response.headers["x-ringpop-replicas"] = ",".join(replicas)
        response.headers["x-ringpop-coordinator"] = rp.whoami()
        return response

    def unavailable(key: str, error: QuorumError) -> web.Response:
        return stamp(key, web.Response(status=503, text=f"{error}\n"))

    async def put(request: web.Request) -> web.Response:
        key = request.match_info["key"]
        try:
            version = await parts.kv.put(key, await request.read())
        except QuorumError as error:
            return unavailable(key, error)
        response = web.Response(status=201)
        response.headers["x-ringpop-version"] = msgspec.json.encode(version).decode()
        return stamp(key, response)

    async def get(request: web.Request) -> web.Response:
        key = request.match_info["key"]
        try:
            record = await parts.kv.get(key)
        except QuorumError as error:
            return unavailable(key, error)
        if record is None or record.value is None:
            return stamp(key, web.Response(status=404, text=f"no such key: {key}\n"))
        return stamp(key, web.Response(body=record.value))

    async def delete(request: web.Request) -> web.Response:
        key = request.match_info["key"]
        try:
            if await parts.kv.get(key) is None:
                return stamp(key, web.Response(status=404, text=f"no such key: {key}\n"))
            await parts.kv.delete(key)
        except QuorumError as error:
            return unavailable(key, error)
        return stamp(key, web.Response(status=204))

    async def own_keys(request: web.Request) -> web.Response:
        keys: list[str] = []
        cursor = None
        for _ in range(1000):  # bounded: at most 1000 pages
            page = await store.scan(EVERYTHING, cursor, 1000)
            keys.extend(r.key for r in page.records if r.value is not None)
            if page.cursor is None:
                break
            cursor = page.cursor
        return web.json_response({"node": rp.whoami(), "keys": sorted(keys)})

    async def state() -> dict[str, Any]:
        return {
            "node": rp.whoami(),
            "keys": await _count(store),
            "store": config.store,
            "n": config.n,
            "r": config.r,
            "w": config.w,
            "handoff": parts.handoff.stats(),
            "antiEntropy": parts.entropy.stats(),
            "hints": len(parts.kv.handoff.buffer),
            "readRepairs": parts.kv.repairs,
        }

    async def index(request: web.Request) -> web.Response:
        return web.json_response(
            {"whoami": rp.whoami(), "ready": rp.is_ready, "members": rp.members(), **await state()}
        )

    async def serve_state(request: Request) -> Response:
        return Response(b"", msgspec.json.encode(await state()))

    async def cleanup(app: web.Application) -> None:
        await parts.entropy.close()
        await parts.handoff.close()
        await parts.kv.close()
        await store.close()
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)

    rp.channel.register("ringpop", STATE_ENDPOINT, serve_state)
    app = web.Application(client_max_size=rp.options.body_limit)
    app.router.add_put("/kv/{key}", put)
    app.router.add_get("/kv/{key}", get)
    app.router.add_delete("/kv/{key}", delete)
    app.router.add_get("/kv", own_keys)
    app.router.add_get("/", index)
    app.on_startup.append(startup)
    app.on_cleanup.append(cleanup)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Run one node until SIGTERM."""
    config, rest = kv_parser().parse_known_args(argv)
    if not 1 <= config.r <= config.n or not 1 <= config.w <= config.n:
        print(f"kv: need 1 <= r, w <= n (n={config.n})", file=sys.stderr)
        return 2
    build = functools.partial(build_app, config=config)
    return run_main("ringpop key-value example node", "kv", build, rest, [kv_parser()])


if __name__ == "__main__":
    sys.exit(main())
