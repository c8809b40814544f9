"""A delaying TCP relay: a slow link without tc netem.

Run inside one host's namespace (``python -m tests.faults.relay --port P --delay-ms D``)
after :meth:`tests.faults.netns.Fabric.slow` redirected that host's TChannel
connections, inbound and outbound, to ``P``. For every connection it accepts, the relay
reads the original destination (``SO_ORIGINAL_DST``, kept by the NAT redirect), connects
there itself (with the packet mark the redirect rules skip) and copies bytes both ways,
holding each chunk for ``D`` ms before writing it: every byte between this host and its
peers arrives ``D`` ms late, in order, whatever the direction of the connection.

Prints ``relay ready <port>`` on stdout once listening; SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import struct
import sys
from collections.abc import Sequence

from tests.faults.netns import RELAY_MARK

__all__ = ["main", "original_destination"]

SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h
CONNECT_TIMEOUT_S = 5.0
CHUNK = 65536


def original_destination(sock: socket.socket) -> tuple[str, int]:
    """Where a redirected connection was going before the NAT rule (IPv4)."""
    raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port, packed = struct.unpack_from("!2xH4s", raw)
    return socket.inet_ntoa(packed), int(port)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy ``reader`` to ``writer``, each chunk ``delay`` s late, order kept."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                with contextlib.suppress(OSError):
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    delivering = asyncio.ensure_future(deliver())
    try:
        while True:
            data = await reader.read(CHUNK)
            queue.put_nowait((loop.time() + delay, data))
            if not data:
                break
        await delivering
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        delivering.cancel()


async def _serve(
    delay: float, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
) -> None:
    sock = client_writer.get_extra_info("socket")
    try:
        host, port = original_destination(sock)
        upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        upstream.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, RELAY_MARK)
        upstream.setblocking(False)
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            await asyncio.get_running_loop().sock_connect(upstream, (host, port))
        up_reader, up_writer = await asyncio.open_connection(sock=upstream)
    except (OSError, TimeoutError) as error:
        print(f"relay: cannot connect: {error}", file=sys.stderr, flush=True)
        client_writer.close()
        return
    peer = client_writer.get_extra_info("peername")
    print(f"relayed {peer[0]}:{peer[1]} -> {host}:{port}", file=sys.stderr, flush=True)
    try:
        await asyncio.gather(
            _pump(client_reader, up_writer, delay), _pump(up_reader, client_writer, delay)
        )
    finally:
        for writer in (client_writer, up_writer):
            writer.close()


async def _main(port: int, delay: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = await asyncio.start_server(
        lambda r, w: _serve(delay, r, w), "0.0.0.0", port, reuse_address=True
    )
    print(f"relay ready {port}", flush=True)
    async with server:
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the relay until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="port the NAT rules redirect to")
    parser.add_argument("--delay-ms", type=float, required=True, help="added one-way delay")
    args = parser.parse_args(argv)
    asyncio.run(_main(args.port, args.delay_ms / 1000.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
