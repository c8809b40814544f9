"""``host:port`` strings as TChannel peers use them (spec tchannel.md §4).

A peer's identity is the ``host_port`` it advertises in its init handshake: a
dotted-quad IPv4 address and a port. ``0.0.0.0:0`` is the ephemeral identity of
a process that does not listen.
"""

from __future__ import annotations

import re

__all__ = ["EPHEMERAL", "is_ephemeral", "split_host_port", "validate_host_port"]

EPHEMERAL = "0.0.0.0:0"

_IPV4 = re.compile(r"^\d+\.\d+\.\d+\.\d+$", re.ASCII)


def validate_host_port(value: str, *, allow_ephemeral: bool = True) -> str | None:
    """Why ``value`` is not a valid ``ipv4:port`` (tchannel-node's rules), or ``None``."""
    if not isinstance(value, str):
        return f"expected host_port to be an ipv4:port string, got {value!r}"
    parts = value.split(":")
    if len(parts) != 2:
        return f"expected host_port to be ipv4:port, got {value!r}"
    host, port_text = parts
    if not _IPV4.match(host) or any(int(octet) > 255 for octet in host.split(".")):
        return f"expected an IPv4 address in {value!r}"
    if not port_text.isdigit() or str(int(port_text)) != port_text:
        return f"expected a port number in {value!r}"
    port = int(port_text)
    if port > 65535:
        return f"port out of range in {value!r}"
    if not allow_ephemeral and (host == "0.0.0.0" or port == 0):
        return f"expected a routable host_port, got {value!r}"
    return None


def split_host_port(value: str, *, allow_ephemeral: bool = False) -> tuple[str, int]:
    """``(host, port)`` of a valid host_port; raises ``ValueError`` otherwise."""
    reason = validate_host_port(value, allow_ephemeral=allow_ephemeral)
    if reason is not None:
        raise ValueError(reason)
    host, port = value.split(":")
    return host, int(port)


def is_ephemeral(value: str) -> bool:
    """Whether ``value`` names no listening address (host 0.0.0.0 or port 0)."""
    host, _, port = value.partition(":")
    return host == "0.0.0.0" or port == "0"
