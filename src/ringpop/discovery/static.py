"""A fixed host list given in code or on the command line."""

from __future__ import annotations

from collections.abc import Iterable

from ringpop.discovery._base import check_address, dedupe

__all__ = ["StaticHosts"]


class StaticHosts:
    """Always the same hosts: ``StaticHosts(["10.0.0.1:3000", "10.0.0.2:3000"])``.

    Every entry is checked when the provider is built (``ValueError`` naming the
    first bad entry and its position); repeats are dropped, order is kept.
    """

    __slots__ = ("_hosts",)

    def __init__(self, hosts: Iterable[str]) -> None:
        if isinstance(hosts, str | bytes):
            kind = type(hosts).__name__
            raise TypeError(f"StaticHosts takes a list of 'ip:port' strings, not a single {kind}")
        checked: list[str] = []
        for index, entry in enumerate(hosts):
            try:
                checked.append(check_address(entry))
            except ValueError as exc:
                raise ValueError(f"static hosts: entry {index}: {exc}") from None
        self._hosts = tuple(dedupe(checked))

    async def hosts(self) -> list[str]:
        """The configured hosts (a new list each call)."""
        return list(self._hosts)

    def __repr__(self) -> str:
        return f"StaticHosts({list(self._hosts)!r})"
