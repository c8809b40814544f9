"""Two TChannel servers that are not ringpop nodes, for the dashboard's bad-input tests.

``python -m tests.dashboard.fakenodes OTHER_PORT GARBAGE_PORT`` serves, on 127.0.0.1:

* ``OTHER_PORT``: a TChannel service named ``other`` (no ``ringpop`` service at all);
* ``GARBAGE_PORT``: service ``ringpop`` whose ``/admin/stats`` answers bytes that are
  not JSON and whose ``/admin/lookup`` answers a JSON array.

It prints ``ready`` once both listen and runs until SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from ringpop.tchannel import Channel, Request, Response


async def _garbage(request: Request) -> Response:
    return Response(b"", b"\x00\x01 this is not { json")


async def _other(request: Request) -> Response:
    return Response(b"", b"{}")


async def main(other_port: int, garbage_port: int) -> None:
    other = Channel(f"127.0.0.1:{other_port}")
    other.register("other", "/admin/stats", _other)
    garbage = Channel(f"127.0.0.1:{garbage_port}")
    garbage.register("ringpop", "/admin/stats", _garbage)
    garbage.register("ringpop", "/admin/lookup", _garbage)
    await other.listen()
    await garbage.listen()
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await other.close(drain_timeout=0.2)
        await garbage.close(drain_timeout=0.2)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
