"""One node of the chat example: every room is an actor, every user a rate limiter.

::

    POST /rooms/{room}   {"user": "ann", "text": "hi"}   201 {"seq": 1, ...} / 429 / 400
    GET  /rooms/{room}?after=0                          200 {"messages": [...], ...}
    GET  /                                              node info (actors active here)

Any node takes any request: it ``ask`` s the user's ``limiter`` actor (at most
``--rate`` posts per 10 s per user), then the room's ``room`` actor, wherever on the
ring they live. A room keeps its last 100 messages; it is saved when idle for
``--idle`` seconds and when the ring moves it, and continues on its new owner.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from examples._node import add_arguments, run
from ringpop import Ringpop
from ringpop.actors import Actor, ActorError, ActorOptions, ActorSystem, Context
from ringpop.cli.argtypes import configure_logging

__all__ = ["Limiter", "Room", "build_app", "main"]

KEEP = 100


class Room(Actor):
    """A chat room: numbered messages, the last ``KEEP`` kept."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.seq = 0
        self.messages: list[dict[str, Any]] = []

    async def on_activate(self, state: Any) -> None:
        if state:
            self.seq, self.messages = state["seq"], state["messages"]

    async def receive(self, message: Any, context: Context) -> Any:
        if "post" in message:
            post = message["post"]
            self.seq += 1
            self.messages.append({"seq": self.seq, "user": post["user"], "text": post["text"]})
            del self.messages[:-KEEP]
            return self.seq
        after = message["read"]
        return [m for m in self.messages if m["seq"] > after]

    def snapshot(self) -> Any:
        return {"seq": self.seq, "messages": self.messages}


class Limiter(Actor):
    """At most ``limit`` posts per ``window`` seconds for one user (a sliding log)."""

    limit = 5
    window = 10.0

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.times: list[float] = []

    async def receive(self, message: Any, context: Context) -> Any:
        now = time.time()
        self.times = [t for t in self.times if now - t < self.window]
        if len(self.times) >= self.limit:
            return False
        self.times.append(now)
        return True

    def snapshot(self) -> Any:
        return self.times

    async def on_activate(self, state: Any) -> None:
        self.times = list(state or [])


def build_app(rp: Ringpop, args: argparse.Namespace) -> web.Application:
    """The HTTP front of one node; the actors are registered once it listens."""
    Limiter.limit = args.rate
    parts: dict[str, ActorSystem] = {}

    async def startup(app: web.Application) -> None:  # after rp.start(), before joining
        system = rp.actors
        system.configure(ActorOptions(idle_timeout=args.idle))
        system.register("room", Room)
        system.register("limiter", Limiter)
        parts["actors"] = system

    def where(room: str) -> dict[str, str]:
        return {"room": room, "room_owner": rp.lookup(room), "answered_by": rp.whoami()}

    async def post(request: web.Request) -> web.Response:
        room = request.match_info["room"]
        try:
            body = await request.json()
            user, text = str(body["user"]), str(body["text"])
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": 'expected {"user": ..., "text": ...}'}, status=400)
        try:
            if not await parts["actors"].ask("limiter", user, "post"):
                return web.json_response({"error": f"{user}: too many posts"}, status=429)
            seq = await parts["actors"].ask("room", room, {"post": {"user": user, "text": text}})
        except ActorError as error:
            return web.json_response({"error": str(error)}, status=503)
        return web.json_response({"seq": seq, **where(room)}, status=201)

    async def read(request: web.Request) -> web.Response:
        room = request.match_info["room"]
        try:
            after = int(request.query.get("after", "0"))
            messages = await parts["actors"].ask("room", room, {"read": after})
        except ValueError:
            return web.json_response({"error": "after must be an integer"}, status=400)
        except ActorError as error:
            return web.json_response({"error": str(error)}, status=503)
        return web.json_response({"messages": messages, **where(room)})

    async def info(request: web.Request) -> web.Response:
        system = parts.get("actors")
        return web.json_response(
            {
                "whoami": rp.whoami(),
                "ready": rp.is_ready,
                "members": rp.members() if rp.is_ready else [],
                "actors": [f"{kind}/{key}" for kind, key in system.active()] if system else [],
            }
        )

    app = web.Application()
    app.on_startup.append(startup)
    app.router.add_post("/rooms/{room}", post)
    app.router.add_get("/rooms/{room}", read)
    app.router.add_get("/", info)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--rate", type=int, default=5, help="posts per 10 s per user (5)")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds before a room is saved")
    args = parser.parse_args(argv)
    return run_node(args)


def run_node(args: argparse.Namespace) -> int:
    import asyncio

    configure_logging(args.log_level)
    return asyncio.run(run(args, "chat", build_app))


if __name__ == "__main__":
    sys.exit(main())
