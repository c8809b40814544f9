"""statsd over UDP, with ringpop-node's key layout."""

from __future__ import annotations

import re
import socket
from typing import Any

from ringpop.stats.base import Kind

__all__ = ["StatsdBackend", "statsd_prefix"]

_UNSAFE = re.compile(r"[.:]")


def statsd_prefix(node: str) -> str:
    """``ringpop.127_0_0_1_3000``: ringpop-node's prefix for a node's stats."""
    return "ringpop." + _UNSAFE.sub("_", node)


class StatsdBackend:
    """Sends each stat as one statsd line (``key:value|c``, ``|g``, ``|ms``) in a UDP packet.

    Sending never blocks and never raises: a full socket buffer or an unreachable
    collector only increments :attr:`dropped`. A host name is resolved once, here
    (``ValueError`` if it does not resolve): resolved at each send, a slow resolver
    would stall the event loop at every stat.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8125) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"statsd port must be 1..65535, not {port!r}")
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except (socket.gaierror, UnicodeError) as error:
            raise ValueError(f"statsd host {host!r} does not resolve: {error}") from None
        family, _, _, _, sockaddr = found[0]
        self._sockaddr: tuple[Any, ...] = sockaddr
        self._socket: socket.socket | None = socket.socket(family, socket.SOCK_DGRAM)
        self._socket.setblocking(False)
        self._prefixes: dict[str, str] = {}
        self.sent = 0
        self.dropped = 0

    @property
    def address(self) -> tuple[str, int]:
        """The collector's resolved ``(ip, port)``."""
        return str(self._sockaddr[0]), int(self._sockaddr[1])

    def emit(self, kind: Kind, key: str, value: float, node: str) -> None:
        sock = self._socket
        if sock is None:
            self.dropped += 1
            return
        prefix = self._prefixes.get(node)
        if prefix is None:
            prefix = self._prefixes[node] = statsd_prefix(node)
        number = int(value) if float(value).is_integer() else round(value, 3)
        line = f"{prefix}.{key}:{number}|{kind.value}"
        try:
            sock.sendto(line.encode(), self._sockaddr)
        except OSError:
            self.dropped += 1
        else:
            self.sent += 1

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
