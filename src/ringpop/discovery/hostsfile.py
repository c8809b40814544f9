"""A JSON hosts file, re-read on every call (spec §11, §14, testpop ``--hosts``)."""

from __future__ import annotations

import asyncio
import json
import os
from typing import TYPE_CHECKING

from ringpop.discovery._base import DiscoveryError, check_address, dedupe

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["HostsFile"]

_MAX_BYTES = 4 * 1024 * 1024


class HostsFile:
    """Hosts from a JSON file holding an array of ``"ip:port"`` strings.

    The file is read again at every :meth:`hosts` call, so an operator (or the
    conformance suite) can rewrite it while the node runs. The read runs in a worker
    thread so a slow filesystem never stalls the event loop.

    A writer that truncates and then writes (no atomic rename) can be caught
    half-way: when the content is empty or not valid JSON the read is retried
    ``retries`` times, ``retry_delay`` seconds apart, before giving up.
    """

    __slots__ = ("_path", "_retries", "_retry_delay")

    def __init__(
        self, path: str | os.PathLike[str], *, retries: int = 2, retry_delay: float = 0.02
    ) -> None:
        if retries < 0 or retry_delay < 0:
            raise ValueError("HostsFile: retries and retry_delay must be >= 0")
        self._path = os.fspath(path)  # a str: pathlib costs ~3 ms of every node start
        self._retries = retries
        self._retry_delay = retry_delay

    @property
    def path(self) -> Path:
        """The file read at each call."""
        from pathlib import Path

        return Path(self._path)

    async def hosts(self) -> list[str]:
        """Read, parse and check the file now."""
        attempt = 0
        while True:
            data = await asyncio.to_thread(self._read)
            try:
                return self._parse(data)
            except _TornReadError as exc:
                if attempt >= self._retries:
                    # Not permanent: the file may be rewritten yet (a generator that
                    # writes it late, or non-atomically); bootstrap warns and retries.
                    raise DiscoveryError(self._source, str(exc)) from exc.__cause__
            attempt += 1
            await asyncio.sleep(self._retry_delay)

    @property
    def _source(self) -> str:
        return f"hosts file {self._path!r}"

    def _read(self) -> bytes:
        try:
            with open(self._path, "rb") as f:
                data = f.read(_MAX_BYTES + 1)
        except FileNotFoundError:
            raise DiscoveryError(self._source, "file does not exist") from None
        except IsADirectoryError:
            raise DiscoveryError(self._source, "is a directory, not a file") from None
        except OSError as exc:
            raise DiscoveryError(self._source, f"cannot be read: {exc.strerror or exc}") from exc
        if len(data) > _MAX_BYTES:
            raise DiscoveryError(self._source, f"larger than {_MAX_BYTES} bytes", permanent=True)
        return data

    def _parse(self, data: bytes) -> list[str]:
        if not data.strip():
            raise _TornReadError("file is empty (expected a JSON array of 'ip:port' strings)")
        try:
            value = json.loads(data)
        except UnicodeDecodeError as exc:
            raise DiscoveryError(self._source, f"not UTF-8 text: {exc}", permanent=True) from None
        except json.JSONDecodeError as exc:
            raise _TornReadError(
                f"not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
            ) from exc
        if not isinstance(value, list):
            raise DiscoveryError(
                self._source,
                f"expected a JSON array of 'ip:port' strings, found a JSON {_json_kind(value)}",
                permanent=True,
            )
        checked: list[str] = []
        for index, entry in enumerate(value):
            try:
                checked.append(check_address(entry))
            except ValueError as exc:
                raise DiscoveryError(
                    self._source, f"entry {index}: {exc}", permanent=True
                ) from None
        return dedupe(checked)

    def __repr__(self) -> str:
        return f"HostsFile({self._path!r})"


class _TornReadError(Exception):
    """Content that a concurrent rewrite could explain (empty or cut JSON)."""


def _json_kind(value: object) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else type(value).__name__
