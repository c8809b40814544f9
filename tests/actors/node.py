"""A node process for the real-process actor tests (``python -m tests.actors.node``).

testpop's flags plus ``--http`` and ``--out DIR``. It serves a ``recorder`` actor
that appends every message it handles to ``DIR/handled-<port>.log`` (one ``write``
per line, so a kill -9 loses nothing written), runs the singletons ``beat-<i>`` (a
heartbeat line every 50 ms in ``DIR/beats-<port>.log``, ``--singletons`` of them)
and follows the leadership ``lead`` (``DIR/leaders-<port>.log``). HTTP:

* ``POST /load?count=&actors=&concurrency=&rate=``: send ``count`` messages
  ``[me, n]`` to ``recorder/a<i>`` (n counts per actor from 1); each acknowledged
  one is appended to ``DIR/acked-<port>.log``; answers the counts when done;
* ``GET /_test/info``: members, active actors, owned actor keys, leadership, stats.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web
from examples._node import add_arguments, run

from ringpop import Ringpop
from ringpop.actors import Actor, ActorError, Context, JobContext, LeadershipAcquired, token_str


class _Appender:
    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def line(self, text: str) -> None:
        os.write(self.fd, (text + "\n").encode())


def build(rp: Ringpop, args: argparse.Namespace) -> web.Application:
    out = Path(args.out)
    port = args.listen.rpartition(":")[2]
    handled = _Appender(out / f"handled-{port}.log")
    acked = _Appender(out / f"acked-{port}.log")
    beats = _Appender(out / f"beats-{port}.log")
    leaders = _Appender(out / f"leaders-{port}.log")
    counters: dict[str, int] = {}

    class Recorder(Actor):
        async def receive(self, message: Any, context: Context) -> Any:
            sender, n = message
            handled.line(f"{rp.whoami()} {self.key} {sender} {n} {time.time_ns()}")
            return n

    async def beat(job: JobContext) -> None:
        count = job.checkpoint or 0
        for _ in range(10**7):
            count += 1
            beats.line(f"{job.name} {rp.whoami()} {time.time_ns()} {token_str(job.token)} {count}")
            if count % 10 == 0:
                await job.save(count)
            await asyncio.sleep(0.05)

    async def on_startup(app: web.Application) -> None:
        rp.actors.register("recorder", Recorder)
        rp.events.on(
            LeadershipAcquired,
            lambda e: leaders.line(f"{e.address} {e.name} {token_str(e.token)} {time.time_ns()}"),
        )
        rp.leadership("lead")
        for i in range(args.singletons):
            rp.singleton(f"beat-{i}", beat)

    async def load(request: web.Request) -> web.Response:
        query = request.query
        count, actors = int(query.get("count", "100")), int(query.get("actors", "100"))
        concurrency, rate = int(query.get("concurrency", "16")), float(query.get("rate", "0"))
        me = rp.whoami()
        rng = random.Random(me)
        todo = iter(range(count))
        outcome: dict[str, Any] = {"ok": 0, "failed": 0, "errors": []}
        started = time.monotonic()

        async def worker() -> None:
            for i in todo:
                if rate:
                    delay = started + i / rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                key = f"a{rng.randrange(actors)}"
                n = counters[key] = counters.get(key, 0) + 1
                try:
                    await rp.actors.send("recorder", key, [me, n])
                except ActorError as error:
                    outcome["failed"] += 1
                    if len(outcome["errors"]) < 5:
                        outcome["errors"].append(f"{type(error).__name__}: {error}")
                    continue
                outcome["ok"] += 1
                acked.line(f"{key} {me} {n}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        outcome["seconds"] = time.monotonic() - started
        return web.json_response(outcome)

    async def info(request: web.Request) -> web.Response:
        keys = [f"a{i}" for i in range(int(request.query.get("actors", "100")))]
        leadership = rp.leadership("lead")
        token = leadership.token
        return web.json_response(
            {
                "address": rp.whoami(),
                "ready": rp.is_ready,
                "members": rp.members(),
                "active": [key for _, key in rp.actors.active()],
                "owned": [k for k in keys if rp.is_ready and rp.owns(k)],
                "leader": leadership.is_leader,
                "token": None if token is None else token_str(token),
                "stats": rp.actors.stats(),
            }
        )

    app = web.Application()
    app.on_startup.append(on_startup)
    app.router.add_post("/load", load)
    app.router.add_get("/_test/info", info)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    parser.add_argument("--out", required=True, help="directory for the logs of what happened")
    parser.add_argument("--singletons", type=int, default=10, help="singleton jobs (10)")
    args = parser.parse_args(argv)
    return asyncio.run(run(args, "actors-test", build))


if __name__ == "__main__":
    sys.exit(main())
