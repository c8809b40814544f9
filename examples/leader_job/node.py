"""One node of the leader-run job example.

Every node declares the singleton ``report`` (``rp.singleton("report", job,
every=--every)``); it runs only on the leader of ``singleton:report``. Each run adds
one to a counter kept as the job's checkpoint (in the replicated state store) and
logs it with the leader's fencing token, so after the leader dies the next one
continues the count instead of starting over::

    GET /    {"whoami", "members", "leader", "is_leader", "token", "runs_here", "count"}
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from examples._node import add_arguments, run
from ringpop import Ringpop
from ringpop.actors import JobContext, Singleton, token_str
from ringpop.cli.argtypes import configure_logging

__all__ = ["build_app", "main"]

log = logging.getLogger("examples.leader_job")


def build_app(rp: Ringpop, args: argparse.Namespace) -> web.Application:
    """The node's HTTP front; the singleton is declared once the node listens."""
    state: dict[str, Any] = {"count": None, "runs": 0}
    parts: dict[str, Singleton] = {}

    async def report(job: JobContext) -> None:
        count = (job.checkpoint or 0) + 1
        await job.save(count)
        state["count"], state["runs"] = count, state["runs"] + 1
        log.warning("report #%d by %s, token %s", count, rp.whoami(), token_str(job.token))

    async def startup(app: web.Application) -> None:  # after rp.start(), before joining
        parts["report"] = rp.singleton("report", report, every=args.every)

    async def info(request: web.Request) -> web.Response:
        singleton = parts.get("report")
        leadership = singleton.leadership if singleton else None
        token = leadership.token if leadership else None
        return web.json_response(
            {
                "whoami": rp.whoami(),
                "ready": rp.is_ready,
                "members": rp.members() if rp.is_ready else [],
                "leader": leadership.leader() if leadership and rp.is_ready else None,
                "is_leader": bool(leadership and leadership.is_leader),
                "token": None if token is None else token_str(token),
                "runs_here": state["runs"],
                "count": state["count"],
            }
        )

    app = web.Application()
    app.on_startup.append(startup)
    app.router.add_get("/", info)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--every", type=float, default=1.0, help="seconds between runs (1)")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    return asyncio.run(run(args, "leader-job", build_app))


if __name__ == "__main__":
    sys.exit(main())
