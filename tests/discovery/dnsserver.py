"""A small authoritative DNS server on 127.0.0.1 for the discovery tests.

Packets are parsed and built with dnslib; the serving loops are two plain threads
(UDP and TCP, same ephemeral port). Records can be changed while it runs::

    server.set("svc.test", A("10.0.0.1"), A("10.0.0.2"))
    server.drop.add("slow.test.")      # never answer this name
    server.servfail.add("broken.test.")

Unknown names get NXDOMAIN; a name with records but none of the asked type gets an
empty NOERROR answer. CNAMEs are followed inside the zone. A UDP answer larger
than 512 bytes (or the client's EDNS size) goes back empty with the TC flag, so
the client must ask again over TCP. Every query is logged in ``queries``.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from typing import Any

from dnslib import AAAA, CNAME, QTYPE, RCODE, RR, SRV, A, DNSError, DNSRecord

__all__ = ["DnsTestServer"]

_TYPES: dict[type, str] = {A: "A", AAAA: "AAAA", SRV: "SRV", CNAME: "CNAME"}
_POLL = 0.05  # seconds between checks of the stop flag


def _fqdn(name: str) -> str:
    name = name.lower()
    return name if name.endswith(".") else name + "."


class DnsTestServer:
    """Serves the records given to :meth:`set` on ``127.0.0.1:port`` (UDP and TCP)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, list[Any]] = {}
        self.drop: set[str] = set()
        self.servfail: set[str] = set()
        self.queries: list[tuple[str, str, str]] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._udp, self._tcp = self._bind()
        self.port: int = self._udp.getsockname()[1]

    # -- records -----------------------------------------------------------------
    def set(self, name: str, *rdata: Any) -> None:
        """Make ``rdata`` (dnslib ``A``/``AAAA``/``SRV``/``CNAME``) all of ``name``'s records."""
        for rd in rdata:
            if type(rd) not in _TYPES:
                raise TypeError(f"unsupported record {rd!r}")
        with self._lock:
            self._records[_fqdn(name)] = list(rdata)

    def remove(self, name: str) -> None:
        """Forget ``name`` (it answers NXDOMAIN from now on)."""
        with self._lock:
            self._records.pop(_fqdn(name), None)

    def count(self, transport: str | None = None) -> int:
        """Queries received so far, over ``"udp"``/``"tcp"`` or both."""
        with self._lock:
            return sum(1 for q in self.queries if transport in (None, q[0]))

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        """Serve in background threads until :meth:`stop`."""
        for target in (self._serve_udp, self._serve_tcp):
            thread = threading.Thread(target=target, name=f"dns-{target.__name__}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop serving and close the sockets (waits at most a second per thread)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=1.0)
        self._udp.close()
        self._tcp.close()

    @staticmethod
    def _bind() -> tuple[socket.socket, socket.socket]:
        for _ in range(20):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", 0))
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                tcp.bind(("127.0.0.1", udp.getsockname()[1]))
            except OSError:
                udp.close()
                tcp.close()
                continue
            tcp.listen(16)
            udp.settimeout(_POLL)
            tcp.settimeout(_POLL)
            return udp, tcp
        raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1")

    # -- serving -----------------------------------------------------------------
    def _serve_udp(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._udp.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = self._answer(data, "udp")
            if reply is not None:
                with contextlib.suppress(OSError):
                    self._udp.sendto(reply, peer)

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.settimeout(1.0)
                while not self._stop.is_set():
                    header = _recv_exact(conn, 2)
                    if header is None:
                        break
                    data = _recv_exact(conn, struct.unpack("!H", header)[0])
                    if data is None:
                        break
                    reply = self._answer(data, "tcp")
                    if reply is not None:
                        conn.sendall(struct.pack("!H", len(reply)) + reply)

    def _answer(self, data: bytes, transport: str) -> bytes | None:
        try:
            request = DNSRecord.parse(data)
        except DNSError:
            return None
        qname, qtype = _fqdn(str(request.q.qname)), QTYPE.get(request.q.qtype)
        with self._lock:
            self.queries.append((transport, qname, str(qtype)))
            if qname in self.drop:
                return None
            reply = request.reply()
            if qname in self.servfail:
                reply.header.rcode = RCODE.SERVFAIL
            elif not self._add_answers(reply, qname, str(qtype)):
                reply.header.rcode = RCODE.NXDOMAIN
        packed: bytes = reply.pack()
        if transport == "udp" and len(packed) > _udp_limit(request):
            truncated = request.reply()
            truncated.header.tc = 1
            packed = truncated.pack()
        return packed

    def _add_answers(self, reply: Any, qname: str, qtype: str) -> bool:
        """Add ``qname``'s records of ``qtype`` (following CNAMEs); False if unknown."""
        seen: set[str] = set()
        name = qname
        while name not in seen:
            seen.add(name)
            records = self._records.get(name)
            if records is None:
                return name != qname  # a dangling CNAME still answers NOERROR
            cname = next((rd for rd in records if isinstance(rd, CNAME)), None)
            if cname is not None and qtype != "CNAME":
                reply.add_answer(RR(name, QTYPE.CNAME, rdata=cname, ttl=30))
                name = _fqdn(str(cname.label))
                continue
            for rd in records:
                if _TYPES[type(rd)] == qtype:
                    reply.add_answer(RR(name, getattr(QTYPE, qtype), rdata=rd, ttl=30))
            return True
        return True


def _udp_limit(request: Any) -> int:
    for rr in request.ar:
        if rr.rtype == QTYPE.OPT:
            return max(512, int(rr.rclass))
    return 512


def _recv_exact(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
